//! SwiGLU's elementwise part, compiled once per model (or plain with
//! `MLXBENCH_NO_COMPILE=1`).

use mlx_rs::{Array, ops};

use crate::error::{Error, Result, mlx_err};

type Fused = dyn for<'a> FnMut((&'a Array, &'a Array)) -> std::result::Result<Array, mlx_rs::error::Exception>;

/// SwiGLU's elementwise part, `silu(gate) * up` (silu(x) = x * sigmoid(x), as mlx-lm
/// computes it). Compiled once per model into one fused kernel: MLX caches a compiled
/// function's trace by its id, so one function reused costs a cache lookup per call.
/// (mlx-rs's own `nn::silu` compiles a new function on every call: a fresh trace and
/// fusion per layer per step, which showed as host time per decode step on the GPU.)
/// `MLXBENCH_NO_COMPILE=1` keeps the three plain ops, for comparing the two.
pub(crate) struct Swiglu(Option<std::cell::RefCell<Box<Fused>>>);

fn swiglu_ops((g, u): (&Array, &Array)) -> std::result::Result<Array, mlx_rs::error::Exception> {
    g.multiply(ops::sigmoid(g)?)?.multiply(u)
}

impl Swiglu {
    pub(crate) fn new(on: bool) -> Self {
        Swiglu(on.then(|| std::cell::RefCell::new(Box::new(mlx_rs::transforms::compile::compile(swiglu_ops, true)) as Box<Fused>)))
    }

    pub(crate) fn apply(&self, g: &Array, u: &Array) -> Result<Array> {
        match &self.0 {
            Some(f) => {
                let mut f = f.try_borrow_mut().map_err(|_| Error::MlxCall("the fused SwiGLU is already running".into()))?;
                f((g, u)).map_err(mlx_err)
            }
            None => swiglu_ops((g, u)).map_err(mlx_err),
        }
    }

    /// Whether the fused (compiled) kernel is used.
    pub(crate) fn compiled(&self) -> bool {
        self.0.is_some()
    }
}

/// `MLXBENCH_NO_COMPILE=1`: the plain step (uncompiled SwiGLU, one matmul per
/// projection), for comparing with the optimised one.
pub(crate) fn plain_step() -> bool {
    std::env::var("MLXBENCH_NO_COMPILE").is_ok_and(|v| v == "1")
}
