//! Mixtures of experts (Mixtral's `block_sparse_moe`, Qwen3-MoE's sparse `mlp`), computed
//! as mlx-lm's `SwitchGLU` does so greedy tokens match: a router picks `k` experts per
//! token, their SwiGLU MLPs run as gathered matmuls (`gather_mm`, or `gather_qmm` for
//! quantized experts: one kernel per projection for all experts), tokens sorted by expert
//! first when there are at least 64 (token, expert) pairs, and the outputs weighted by
//! the router's scores. Experts are stored stacked (`switch_mlp.{gate,up,down}_proj`,
//! `[experts, out, in]`), as mlx-lm writes them; Hugging Face's one-tensor-per-expert
//! layout is stacked at load.

use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::{Array, ops};

use crate::config::{ModelConfig, Routing};
use crate::error::{Error, Result, mlx_err};
use crate::linear::{Linear, Quantized, Weights};

/// One projection of every expert, `[experts, out, in]`.
struct Experts {
    w: Array,
    quant: Option<Quantized>,
}

impl Experts {
    fn load(w: &mut Weights, config: &ModelConfig, path: &str) -> Result<Self> {
        Ok(Experts { w: w.take(&format!("{path}.weight"))?, quant: w.quantized(config, path)? })
    }

    fn forward(&self, x: &Array, idx: &Array, sorted: bool) -> Result<Array> {
        match &self.quant {
            Some(q) => ops::gather_qmm(x, &self.w, &q.scales, Some(&q.biases), None, Some(idx), true, q.group_size, q.bits, sorted),
            None => ops::gather_mm(x, self.w.swap_axes(-1, -2).map_err(mlx_err)?, None, Some(idx), sorted),
        }
        .map_err(mlx_err)
    }

    fn arrays(&self) -> Vec<&Array> {
        let mut v = vec![&self.w];
        if let Some(q) = &self.quant {
            v.extend([&q.scales, &q.biases]);
        }
        v
    }
}

/// A sparse MoE block.
pub struct Moe {
    router: Linear,
    gate: Experts,
    up: Experts,
    down: Experts,
    k: i32,
    routing: Routing,
}

/// Stacks Hugging Face's per-expert tensors `{prefix}.experts.{e}.{name}.*` into
/// `{prefix}.switch_mlp.{stacked}.*` (mlx-lm's `sanitize`), when they are there.
fn stack_experts(w: &mut Weights, prefix: &str, experts: i32, names: &[(&str, &str)]) -> Result<()> {
    for (name, stacked) in names {
        for part in ["weight", "scales", "biases"] {
            if !w.map.contains_key(&format!("{prefix}.experts.0.{name}.{part}")) {
                continue;
            }
            let each = (0..experts).map(|e| w.take(&format!("{prefix}.experts.{e}.{name}.{part}"))).collect::<Result<Vec<_>>>()?;
            let joined = ops::stack(&each, 0).map_err(mlx_err)?;
            w.map.insert(format!("{prefix}.switch_mlp.{stacked}.{part}"), joined);
        }
    }
    Ok(())
}

impl Moe {
    /// The MoE block of layer `p` (`model.layers.{i}`), if the config makes it sparse.
    pub fn load(w: &mut Weights, config: &ModelConfig, p: &str, layer: i32) -> Result<Option<Self>> {
        let Some(layout) = config.moe_layer(layer) else { return Ok(None) };
        let (experts, routing) = (layout.experts, layout.routing);
        let prefix = format!("{p}.{}", layout.prefix);
        stack_experts(w, &prefix, experts, layout.names)?;
        let part = |w: &mut Weights, n: &str| Experts::load(w, config, &format!("{prefix}.switch_mlp.{n}"));
        let moe = Moe {
            router: w.linear(config, &format!("{prefix}.gate"))?,
            gate: part(w, "gate_proj")?,
            up: part(w, "up_proj")?,
            down: part(w, "down_proj")?,
            k: config.experts_per_token(),
            routing,
        };
        if moe.k < 1 || moe.k > experts || moe.gate.w.dim(0) != experts {
            return Err(Error::Model(format!(
                "{prefix}: {} experts stored, the config says {experts} with {} per token",
                moe.gate.w.dim(0),
                moe.k
            )));
        }
        Ok(Some(moe))
    }

    pub fn arrays(&self) -> Vec<&Array> {
        let mut v = self.router.arrays();
        for e in [&self.gate, &self.up, &self.down] {
            v.extend(e.arrays());
        }
        v
    }

    /// The chosen experts `[1, L, k]` and their weights.
    fn route(&self, x: &Array) -> Result<(Array, Array)> {
        let gates = self.router.forward(x)?;
        let e = gates.dim(-1);
        let k = self.k;
        let take = |inds: &Array, from: &Array| from.take_along_axis(inds, -1).map_err(mlx_err);
        match self.routing {
            Routing::TopKThenSoftmax => {
                let neg = ops::negative(&gates).map_err(mlx_err)?;
                let inds = ops::argpartition_axis(&neg, k - 1, -1).and_then(|i| i.try_index((.., .., 0..k))).map_err(mlx_err)?;
                let scores = ops::softmax_axis(take(&inds, &gates)?, -1, true).map_err(mlx_err)?;
                Ok((inds, scores))
            }
            Routing::SoftmaxThenTopK { renormalise } => {
                let probs = ops::softmax_axis(&gates, -1, true).map_err(mlx_err)?;
                let inds = ops::argpartition_axis(&probs, e - k, -1).and_then(|i| i.try_index((.., .., e - k..e))).map_err(mlx_err)?;
                let mut scores = take(&inds, &probs)?;
                if renormalise {
                    scores = scores.divide(scores.sum_axis(-1, true).map_err(mlx_err)?).map_err(mlx_err)?;
                }
                Ok((inds, scores))
            }
        }
    }

    /// `[1, L, hidden]` -> `[1, L, hidden]`; `swiglu(gate, up)` as the dense MLP's.
    pub fn forward(&self, x: &Array, swiglu: &dyn Fn(&Array, &Array) -> Result<Array>) -> Result<Array> {
        let (inds, scores) = self.route(x)?;
        let shape = inds.shape().to_vec();
        let n = shape.iter().product::<i32>();
        let mut x = x.expand_dims_axes(&[-2, -3]).map_err(mlx_err)?;
        let sorted = n >= 64;
        let (idx, inv) = if sorted {
            // tokens grouped by expert, as mlx-lm's _gather_sort
            let flat = inds.flatten(None, None).map_err(mlx_err)?;
            let order = ops::argsort_axis(&flat, 0).map_err(mlx_err)?;
            let inv = ops::argsort_axis(&order, 0).map_err(mlx_err)?;
            let k = Array::from_int(self.k).as_dtype(order.dtype()).map_err(mlx_err)?;
            let rows = order.floor_divide(&k).map_err(mlx_err)?;
            x = x.flatten(0, -3).and_then(|f| f.take_axis(&rows, 0)).map_err(mlx_err)?;
            (flat.take_axis(&order, 0).map_err(mlx_err)?, Some(inv))
        } else {
            (inds.clone(), None)
        };
        let (up, gate) = (self.up.forward(&x, &idx, sorted)?, self.gate.forward(&x, &idx, sorted)?);
        let mut y = self.down.forward(&swiglu(&gate, &up)?, &idx, sorted)?;
        if let Some(inv) = inv {
            let rest = y.shape()[1..].to_vec();
            y = y.take_axis(&inv, 0).and_then(|y| y.reshape(&[&shape[..], &rest[..]].concat())).map_err(mlx_err)?;
        }
        let y = y.squeeze_axes(&[-2]).map_err(mlx_err)?;
        let weighted = y.multiply(scores.expand_dims_axes(&[-1]).map_err(mlx_err)?).map_err(mlx_err)?;
        weighted.sum_axis(-2, None).and_then(|s| s.as_dtype(y.dtype())).map_err(mlx_err)
    }
}
