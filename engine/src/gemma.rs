//! What Gemma 2 does differently from Llama, computed as mlx-lm's `gemma2` does so that
//! greedy tokens match: embeddings scaled by sqrt(hidden), RMS norms of `1 + weight`
//! (folded into the weight at load), a norm after attention and one around the MLP,
//! GELU (tanh approximation) instead of SiLU, attention scaled by
//! `query_pre_attn_scalar^-1/2` with its logits soft-capped (`cap * tanh(x / cap)`,
//! so no fused attention kernel), and the final logits soft-capped too. mlx-lm's gemma2
//! attends over the whole context on every layer (no sliding window), and so does this.

use mlx_rs::{Array, Dtype, ops};

use crate::error::{Result, mlx_err};

/// A Gemma 2 or 3 model's constants.
#[derive(Debug, Clone, Copy)]
pub struct Gemma {
    /// `query_pre_attn_scalar^-1/2`
    pub scale: f32,
    /// Gemma 2's soft-caps (Gemma 3 has none and uses the fused attention kernel)
    pub attn_cap: Option<f32>,
    pub final_cap: Option<f32>,
    /// Gemma 3: the embedding scale rounded to bfloat16, and float16 residual sums
    /// clipped to float16's range (computed in float32), as mlx-lm's gemma3_text does.
    pub three: bool,
}

/// `v` as a scalar of `like`'s dtype (as Python's float scalars combine with arrays).
fn scalar(v: f32, like: &Array) -> Result<Array> {
    Array::from_f32(v).as_dtype(like.dtype()).map_err(mlx_err)
}

/// `cap * tanh(x / cap)`.
pub fn softcap(x: &Array, cap: f32) -> Result<Array> {
    let c = scalar(cap, x)?;
    ops::tanh(&x.divide(&c).map_err(mlx_err)?).and_then(|t| t.multiply(&c)).map_err(mlx_err)
}

/// MLX's `gelu_approx`: `0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))`,
/// in the same order of operations.
pub fn gelu_approx(x: &Array) -> Result<Array> {
    let s = |v: f32| scalar(v, x);
    let half_x = s(0.5)?.multiply(x).map_err(mlx_err)?;
    let cube = ops::power(x, &s(3.0)?).map_err(mlx_err)?;
    let inner = x.add(&s(0.044715)?.multiply(&cube).map_err(mlx_err)?).map_err(mlx_err)?;
    let t = ops::tanh(&s((2.0 / std::f32::consts::PI).sqrt())?.multiply(&inner).map_err(mlx_err)?).map_err(mlx_err)?;
    half_x.multiply(&s(1.0)?.add(&t).map_err(mlx_err)?).map_err(mlx_err)
}

/// The most negative finite value of a float dtype (`mx.finfo(dtype).min`).
fn lowest(dtype: Dtype) -> f32 {
    match dtype {
        Dtype::Float16 => -65504.0,
        Dtype::Bfloat16 => half::bf16::MIN.to_f32(),
        _ => f32::MIN,
    }
}

impl Gemma {
    /// Embeddings times sqrt(hidden) (Gemma 3: that factor rounded to bfloat16 first).
    pub fn scale_embeddings(&self, h: &Array, hidden: i32) -> Result<Array> {
        let mut f = (hidden as f64).sqrt() as f32;
        if self.three {
            f = half::bf16::from_f32(f).to_f32();
        }
        h.multiply(&scalar(f, h)?).map_err(mlx_err)
    }

    /// `x + y`; Gemma 3 in float16 adds in float32 and clips to float16's range.
    pub fn residual(&self, x: &Array, y: &Array) -> Result<Array> {
        if !self.three || x.dtype() != Dtype::Float16 {
            return x.add(y).map_err(mlx_err);
        }
        let sum = x.as_dtype(Dtype::Float32).and_then(|a| y.as_dtype(Dtype::Float32).and_then(|b| a.add(&b))).map_err(mlx_err)?;
        let bound = Array::from_f32(65504.0);
        ops::clip(&sum, (&ops::negative(&bound).map_err(mlx_err)?, &bound)).and_then(|c| c.as_dtype(Dtype::Float16)).map_err(mlx_err)
    }

    /// Attention of q `[1, heads, L, d]` over k, v `[1, kv heads, offset + L, d]`:
    /// `softmax(softcap(q * scale @ k^T) where mask) @ v` (the causal mask of a prompt,
    /// none for one token), grouped heads as a reshape of q (mlx-lm's order),
    /// `[1, heads, L, d]` out.
    pub fn attention(&self, q: &Array, k: &Array, v: &Array, mask: Option<&Array>, cap: f32) -> Result<Array> {
        let (heads, kv_heads, l, d) = (q.dim(1), k.dim(1), q.dim(2), q.dim(3));
        let repeats = heads / kv_heads;
        let mut q = q.multiply(&scalar(self.scale, q)?).map_err(mlx_err)?;
        let (mut k, mut v) = (k.clone(), v.clone());
        if repeats > 1 {
            q = q.reshape(&[1, kv_heads, repeats, l, d]).map_err(mlx_err)?;
            k = ops::expand_dims(&k, 2).map_err(mlx_err)?;
            v = ops::expand_dims(&v, 2).map_err(mlx_err)?;
        }
        let scores = q.matmul(&k.swap_axes(-1, -2).map_err(mlx_err)?).map_err(mlx_err)?;
        let mut scores = softcap(&scores, cap)?;
        if let Some(mask) = mask {
            scores = ops::select(mask, &scores, &scalar(lowest(scores.dtype()), &scores)?).map_err(mlx_err)?;
        }
        let p = ops::softmax_axis(&scores, -1, true).map_err(mlx_err)?;
        let o = p.matmul(&v).map_err(mlx_err)?;
        if repeats > 1 { o.reshape(&[1, heads, l, d]).map_err(mlx_err) } else { Ok(o) }
    }
}
