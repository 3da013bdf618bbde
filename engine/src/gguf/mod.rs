//! GGUF files as MLX models. Tensors are read by [`tensors`]: F32 and F16 as they are,
//! BF16 as float16, and ggml's quantized blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K,
//! Q6_K: what Q4_K_M and Q5_K_M files hold) re-packed by [`quants`] as MLX
//! affine-quantized weights (group size 32, float16 scales and biases). Around it: a
//! header and metadata parser of our own (for the config and the tokenizer, and to check
//! tensor types and sizes before any tensor data is read, so that a truncated or exotic
//! file is a clear error), llama.cpp's q/k row permutation undone, and a tokenizer
//! rebuilt from the GGUF vocabulary and merges. Only the `llama` architecture (Llama,
//! SmolLM, TinyLlama, Mistral) is read from GGUF.

mod header;
pub mod quants;
mod tensors;
mod tokenizer;

use std::collections::HashMap;
use std::path::Path;

use mlx_rs::Array;
use serde_json::{Value, json};

use crate::error::{Error, Result, io_err, json_err, mlx_err, tok_err};
pub use header::{Gguf, Meta, TensorInfo, file_type_name, type_name};
pub use tokenizer::tokenizer_parts;

/// Row order that undoes llama.cpp's q/k permutation (`order[hf_row] = gguf_row`).
fn unpermute(rows: usize, heads: usize) -> Vec<usize> {
    let per_head = rows / heads;
    let half = per_head / 2;
    let mut order = vec![0; rows];
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                order[h * per_head + j * half + i] = h * per_head + i * 2 + j;
            }
        }
    }
    order
}

fn hf_name(gguf: &str) -> Option<String> {
    let map = |s: &str| -> Option<&'static str> {
        Some(match s {
            "attn_norm" => "input_layernorm",
            "ffn_norm" => "post_attention_layernorm",
            "attn_q" => "self_attn.q_proj",
            "attn_k" => "self_attn.k_proj",
            "attn_v" => "self_attn.v_proj",
            "attn_output" => "self_attn.o_proj",
            "ffn_gate" => "mlp.gate_proj",
            "ffn_up" => "mlp.up_proj",
            "ffn_down" => "mlp.down_proj",
            _ => return None,
        })
    };
    let (stem, suffix) = gguf.rsplit_once('.')?;
    match stem {
        "token_embd" => Some(format!("model.embed_tokens.{suffix}")),
        "output_norm" => Some(format!("model.norm.{suffix}")),
        "output" => Some(format!("lm_head.{suffix}")),
        _ => {
            let rest = stem.strip_prefix("blk.")?;
            let (n, part) = rest.split_once('.')?;
            Some(format!("model.layers.{n}.{}.{suffix}", map(part)?))
        }
    }
}

/// A model read from GGUF: HF-layout config, weights and tokenizer pieces.
pub struct Converted {
    pub config: Value,
    pub weights: HashMap<String, Array>,
    pub tokenizer: tokenizers::Tokenizer,
    pub tokenizer_config: Value,
}

pub fn convert_gguf(g: &Gguf) -> Result<Converted> {
    let at = g.path.display().to_string();
    convert_parts(g).map_err(|e| match e {
        Error::Model(m) if !m.starts_with(&at) => Error::Model(format!("{at}: {m}")),
        Error::Unsupported(m) if !m.starts_with(&at) => Error::Unsupported(format!("{at}: {m}")),
        other => other,
    })
}

/// Sizes from the metadata, checked before anything divides by them or allocates.
fn check_sizes(hidden: i64, heads: i64, kv: i64, layers: i64) -> Result<()> {
    let sizes = [
        ("embedding_length", hidden, 1 << 17),
        ("attention.head_count", heads, 4096),
        ("attention.head_count_kv", kv, 4096),
        ("block_count", layers, 4096),
    ];
    for (name, v, max) in sizes {
        if v <= 0 || v > max {
            return Err(Error::Model(format!("GGUF metadata llama.{name} = {v} is not a model size (must be 1..={max})")));
        }
    }
    if heads % kv != 0 {
        return Err(Error::Model(format!("GGUF: {heads} attention heads is not a multiple of {kv} key/value heads")));
    }
    Ok(())
}

/// For q and k projections, the row order undoing llama.cpp's permutation.
fn qk_order(t: &TensorInfo, heads: i64, kv: i64) -> Result<Option<Array>> {
    let h = if t.name.ends_with("attn_q.weight") {
        heads
    } else if t.name.ends_with("attn_k.weight") {
        kv
    } else {
        return Ok(None);
    };
    let rows: usize = t.dims[1..].iter().product::<u64>() as usize;
    if !rows.is_multiple_of(2 * h as usize) || rows > i32::MAX as usize {
        return Err(Error::Model(format!("tensor {}: {rows} rows do not split into {h} heads of an even size", t.name)));
    }
    let o: Vec<i32> = unpermute(rows, h as usize).into_iter().map(|r| r as i32).collect();
    Ok(Some(Array::from_slice(&o, &[rows as i32])))
}

/// Model sizes of a GGUF header the engine can run: `(hidden, heads, kv heads, layers)`,
/// or why it cannot (architecture, sizes, tensor types, a truncated file). Reads no
/// tensor data.
pub fn check_supported(g: &Gguf) -> Result<(i64, i64, i64, i64)> {
    let arch = g.meta.get("general.architecture").and_then(Meta::as_str).unwrap_or("");
    if arch != "llama" {
        return Err(Error::Unsupported(format!("GGUF architecture \"{arch}\" is not supported (only llama-family GGUF files)")));
    }
    let k = |s: &str| format!("llama.{s}");
    let need = |s: &str| g.get_i(&k(s)).ok_or_else(|| Error::Model(format!("GGUF metadata llama.{s} is missing")));
    let hidden = need("embedding_length")?;
    let heads = need("attention.head_count")?;
    let kv = g.get_i(&k("attention.head_count_kv")).unwrap_or(heads);
    let layers = need("block_count")?;
    check_sizes(hidden, heads, kv, layers)?;
    g.check_tensors()?;
    Ok((hidden, heads, kv, layers))
}

fn convert_parts(g: &Gguf) -> Result<Converted> {
    let (hidden, heads, kv, layers) = check_supported(g)?;
    let k = |s: &str| format!("llama.{s}");
    let need = |s: &str| g.get_i(&k(s)).ok_or_else(|| Error::Model(format!("GGUF metadata llama.{s} is missing")));
    let (tokenizer, tokenizer_config) = tokenizer_parts(g)?;
    let mut loaded = tensors::load(g)?;
    let mut weights = HashMap::new();
    let mut quant: serde_json::Map<String, Value> = serde_json::Map::new();
    for t in &g.tensors {
        let name = hf_name(&t.name).ok_or_else(|| Error::Model(format!("unexpected GGUF tensor {}", t.name)))?;
        let (stem, base) = (t.name.rsplit_once('.').map_or(t.name.as_str(), |s| s.0), name.rsplit_once('.').map_or(name.as_str(), |s| s.0));
        let order = qk_order(t, heads, kv)?;
        let quantized = quants::Kind::of(t.kind);
        let parts: &[&str] = if quantized.is_some() { &["weight", "scales", "biases"] } else { &["weight"] };
        for part in parts {
            let a =
                loaded.remove(&format!("{stem}.{part}")).ok_or_else(|| Error::Model(format!("the GGUF reader gave no {stem}.{part}")))?;
            // rows are whole rows in every part (packed words, scales, biases alike)
            let a = match &order {
                Some(o) => a.take_axis(o, 0).map_err(mlx_err)?,
                None => a,
            };
            weights.insert(format!("{base}.{part}"), a);
        }
        if let Some(kind) = quantized {
            quant.insert(base.to_string(), json!({"group_size": 32, "bits": kind.bits()}));
        }
    }
    let tied = !weights.contains_key("lm_head.weight");
    let mut config = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "intermediate_size": need("feed_forward_length")?,
        "vocab_size": g.get_i(&k("vocab_size")).unwrap_or(g.tokens()?.len() as i64),
        "rms_norm_eps": g.meta.get(&k("attention.layer_norm_rms_epsilon")).and_then(Meta::as_f64).unwrap_or(1e-5),
        "rope_theta": g.meta.get(&k("rope.freq_base")).and_then(Meta::as_f64).unwrap_or(10000.0),
        "max_position_embeddings": g.get_i(&k("context_length")).unwrap_or(2048),
        "tie_word_embeddings": tied,
        "bos_token_id": g.get_i("tokenizer.ggml.bos_token_id"),
        "eos_token_id": g.get_i("tokenizer.ggml.eos_token_id"),
    });
    if let Some(hd) = g.get_i(&k("rope.dimension_count")) {
        config["head_dim"] = json!(hd);
    }
    if !quant.is_empty() {
        // default for mlx-lm and a per-module entry for each quantized tensor
        let mut q = serde_json::Map::new();
        q.insert("group_size".into(), json!(32));
        q.insert("bits".into(), json!(4));
        q.extend(quant);
        config["quantization"] = Value::Object(q);
    }
    Ok(Converted { config, weights, tokenizer, tokenizer_config })
}

/// Writes a converted model in Hugging Face / MLX layout.
pub fn write_dir(c: &Converted, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let w = |name: &str, v: &Value| {
        let text = serde_json::to_string_pretty(v).map_err(json_err(name))?;
        let path = out.join(name);
        std::fs::write(&path, text).map_err(io_err(&path))
    };
    w("config.json", &c.config)?;
    w("tokenizer_config.json", &c.tokenizer_config)?;
    c.tokenizer.save(out.join("tokenizer.json"), false).map_err(tok_err("tokenizer.json"))?;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "mlx".to_string());
    Array::save_safetensors(c.weights.iter().map(|(k, v)| (k.as_str(), v)), &meta, out.join("model.safetensors"))
        .map_err(|e| Error::Model(format!("model.safetensors: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permutation() {
        // llama.cpp: reshape(heads, 2, half, in).swapaxes(1, 2): gguf row (h, i, j) = hf row (h, j, i)
        let order = unpermute(8, 2);
        assert_eq!(order, vec![0, 2, 1, 3, 4, 6, 5, 7]);
    }

    #[test]
    fn names_map_to_hugging_face_layout() {
        assert_eq!(hf_name("blk.3.attn_q.weight").as_deref(), Some("model.layers.3.self_attn.q_proj.weight"));
        assert_eq!(hf_name("token_embd.weight").as_deref(), Some("model.embed_tokens.weight"));
        assert_eq!(hf_name("blk.0.weird.weight"), None);
    }
}
