//! Phi-3 stores q, k and v as one `qkv_proj` and gate and up as one `gate_up_proj`.
//! Split along their rows into Llama's names at load (every part of a quantized weight
//! too: packed words, scales and biases are whole rows), the rest of the model is
//! Llama's; the engine stacks q/k/v and gate/up again into one matmul each (linear.rs).

use std::collections::HashMap;

use mlx_rs::Array;
use mlx_rs::ops::indexing::TryIndexOp;

use crate::config::ModelConfig;
use crate::error::{Error, Result, mlx_err};

const PARTS: [&str; 4] = ["weight", "scales", "biases", "bias"];

/// Replaces each layer's fused projections in `map` by their parts.
pub fn split(config: &ModelConfig, map: &mut HashMap<String, Array>) -> Result<()> {
    let (nh, nkv, hd) = (config.n_heads(), config.n_kv_heads(), config.head_dim());
    for i in 0..config.num_hidden_layers {
        let p = format!("model.layers.{i}");
        rows(
            map,
            &format!("{p}.self_attn.qkv_proj"),
            &[("self_attn.q_proj", nh * hd), ("self_attn.k_proj", nkv * hd), ("self_attn.v_proj", nkv * hd)],
            &p,
        )?;
        let fused = format!("{p}.mlp.gate_up_proj");
        if let Some(w) = map.get(&format!("{fused}.weight")) {
            let half = w.dim(0) / 2;
            rows(map, &fused, &[("mlp.gate_proj", half), ("mlp.up_proj", half)], &p)?;
        }
    }
    Ok(())
}

/// Splits every part of the module `fused` (when present) into consecutive row ranges
/// named `{layer}.{name}`.
fn rows(map: &mut HashMap<String, Array>, fused: &str, into: &[(&str, i32)], layer: &str) -> Result<()> {
    let total: i32 = into.iter().map(|(_, n)| n).sum();
    for part in PARTS {
        let Some(a) = map.remove(&format!("{fused}.{part}")) else { continue };
        if a.dim(0) != total {
            return Err(Error::Model(format!("tensor {fused}.{part} has {} rows; the config implies {total}", a.dim(0))));
        }
        let mut start = 0;
        for (name, n) in into {
            let piece = a.try_index(start..start + n).map_err(mlx_err)?;
            map.insert(format!("{layer}.{name}.{part}"), piece);
            start += n;
        }
    }
    Ok(())
}
