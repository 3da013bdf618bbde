//! The transformer: Llama-family decoder layers (Llama 2/3, SmolLM, TinyLlama, Mistral),
//! Qwen2 (q/k/v biases) and Qwen3 (q/k RMS norms), grouped-query attention, RoPE, SwiGLU,
//! dense or MLX affine-quantized weights, tied or untied embeddings, and a KV cache.
//! The computation follows mlx-lm's so greedy outputs match it token for token.

use std::collections::HashMap;
use std::path::Path;

use mlx_rs::fast::ScaledDotProductAttentionMask;
use mlx_rs::ops::indexing::{TryIndexMutOp, TryIndexOp};
use mlx_rs::{Array, Dtype, fast, ops};

use super::config::{ModelConfig, Rope};

pub type MResult<T> = Result<T, String>;

pub fn mlx_err(e: impl std::fmt::Display) -> String {
    format!("mlx: {e}")
}

/// A linear map: dense `x @ W^T (+ b)` or MLX affine-quantized.
pub enum Linear {
    Dense { w: Array, b: Option<Array> },
    Quant { w: Array, scales: Array, biases: Array, b: Option<Array>, group_size: i32, bits: i32 },
}

impl Linear {
    pub fn forward(&self, x: &Array) -> MResult<Array> {
        let (y, b) = match self {
            Linear::Dense { w, b } => (x.matmul(w.t()).map_err(mlx_err)?, b),
            Linear::Quant { w, scales, biases, b, group_size, bits } => {
                (ops::quantized_matmul(x, w, scales, Some(biases), true, *group_size, *bits).map_err(mlx_err)?, b)
            }
        };
        match b {
            Some(b) => y.add(b).map_err(mlx_err),
            None => Ok(y),
        }
    }

    /// Rows of an embedding table (dequantized when quantized).
    pub fn rows(&self, ids: &Array) -> MResult<Array> {
        match self {
            Linear::Dense { w, .. } => w.take_axis(ids, 0).map_err(mlx_err),
            Linear::Quant { w, scales, biases, group_size, bits, .. } => {
                let w = w.take_axis(ids, 0).map_err(mlx_err)?;
                let s = scales.take_axis(ids, 0).map_err(mlx_err)?;
                let b = biases.take_axis(ids, 0).map_err(mlx_err)?;
                ops::dequantize(&w, &s, &b, *group_size, *bits).map_err(mlx_err)
            }
        }
    }

    fn arrays(&self) -> Vec<&Array> {
        match self {
            Linear::Dense { w, b } => std::iter::once(w).chain(b.iter()).collect(),
            Linear::Quant { w, scales, biases, b, .. } => [w, scales, biases].into_iter().chain(b.iter()).collect(),
        }
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<Array>,
    k_norm: Option<Array>,
}

struct Layer {
    attn: Attention,
    gate: Linear,
    up: Linear,
    down: Linear,
    input_norm: Array,
    post_norm: Array,
}

/// Keys and values of every layer so far, in buffers grown 256 positions at a time and
/// written in place, as mlx-lm's `KVCache` does (no copy of the whole history per token).
#[derive(Default)]
pub struct KvCache {
    layers: Vec<Option<(Array, Array)>>,
    pub offset: i32,
}

const KV_STEP: i32 = 256;

impl KvCache {
    pub fn arrays(&self) -> Vec<&Array> {
        self.layers.iter().flatten().flat_map(|(k, v)| [k, v]).collect()
    }

    /// Stores `k`, `v` `[1, heads, L, dim]` at the current offset of layer `i`; returns
    /// the keys and values of every position so far. The caller advances `offset`.
    fn update(&mut self, i: usize, k: Array, v: Array) -> MResult<(Array, Array)> {
        let prev = self.offset;
        let l = k.dim(2);
        let grow = |buf: Option<&Array>, new: &Array| -> MResult<Array> {
            let shape = new.shape();
            let steps = (KV_STEP + l - 1) / KV_STEP;
            let zeros = ops::zeros_dtype(&[shape[0], shape[1], steps * KV_STEP, shape[3]], new.dtype()).map_err(mlx_err)?;
            match buf {
                None => Ok(zeros),
                Some(b) => {
                    let b = if prev % KV_STEP != 0 { b.try_index((.., .., 0..prev, ..)).map_err(mlx_err)? } else { b.clone() };
                    ops::concatenate(&[&b, &zeros], 2).map_err(mlx_err)
                }
            }
        };
        let (mut kb, mut vb) = match self.layers[i].take() {
            Some((kb, vb)) if prev + l <= kb.dim(2) => (kb, vb),
            old => {
                let (ok, ov) = match &old {
                    Some((a, b)) => (Some(a), Some(b)),
                    None => (None, None),
                };
                (grow(ok, &k)?, grow(ov, &v)?)
            }
        };
        kb.try_index_mut((.., .., prev..prev + l, ..), &k).map_err(mlx_err)?;
        vb.try_index_mut((.., .., prev..prev + l, ..), &v).map_err(mlx_err)?;
        let keys = kb.try_index((.., .., 0..prev + l, ..)).map_err(mlx_err)?;
        let values = vb.try_index((.., .., 0..prev + l, ..)).map_err(mlx_err)?;
        self.layers[i] = Some((kb, vb));
        Ok((keys, values))
    }
}

pub struct Model {
    pub config: ModelConfig,
    embed: Linear,
    layers: Vec<Layer>,
    norm: Array,
    lm_head: Option<Linear>,
    rope: Rope,
    rope_freqs: Option<Array>,
    swiglu: Swiglu,
}

type Fused = dyn for<'a> FnMut((&'a Array, &'a Array)) -> Result<Array, mlx_rs::error::Exception>;

/// SwiGLU's elementwise part, `silu(gate) * up` (silu(x) = x * sigmoid(x), as mlx-lm
/// computes it). Compiled once per model into one fused kernel: MLX caches a compiled
/// function's trace by its id, so one function reused costs a cache lookup per call.
/// (mlx-rs's own `nn::silu` compiles a new function on every call: a fresh trace and
/// fusion per layer per step, which showed as host time per decode step on the GPU.)
/// `MLXBENCH_NO_COMPILE=1` keeps the three plain ops, for comparing the two.
struct Swiglu(Option<std::cell::RefCell<Box<Fused>>>);

fn swiglu_ops((g, u): (&Array, &Array)) -> Result<Array, mlx_rs::error::Exception> {
    g.multiply(ops::sigmoid(g)?)?.multiply(u)
}

impl Swiglu {
    fn new() -> Self {
        let off = std::env::var("MLXBENCH_NO_COMPILE").is_ok_and(|v| v == "1");
        Swiglu((!off).then(|| std::cell::RefCell::new(Box::new(mlx_rs::transforms::compile::compile(swiglu_ops, true)) as Box<Fused>)))
    }

    fn apply(&self, g: &Array, u: &Array) -> MResult<Array> {
        match &self.0 {
            Some(f) => {
                let mut f = f.try_borrow_mut().map_err(|_| "the fused SwiGLU is already running".to_string())?;
                f((g, u)).map_err(mlx_err)
            }
            None => swiglu_ops((g, u)).map_err(mlx_err),
        }
    }

    /// Whether the fused (compiled) kernel is used.
    fn compiled(&self) -> bool {
        self.0.is_some()
    }
}

/// Takes named tensors out of the loaded weight map.
struct Weights {
    map: HashMap<String, Array>,
}

impl Weights {
    fn take(&mut self, name: &str) -> MResult<Array> {
        self.map.remove(name).ok_or_else(|| format!("weights: tensor {name} is missing"))
    }

    fn linear(&mut self, config: &ModelConfig, path: &str) -> MResult<Linear> {
        let w = self.take(&format!("{path}.weight"))?;
        let b = self.map.remove(&format!("{path}.bias"));
        match self.map.remove(&format!("{path}.scales")) {
            None => Ok(Linear::Dense { w, b }),
            Some(scales) => {
                let biases = self.take(&format!("{path}.biases"))?;
                let (group_size, bits) = config
                    .quantization_for(path)
                    .ok_or_else(|| format!("weights: {path} is quantized but config.json has no `quantization`"))?;
                if ![2, 3, 4, 5, 6, 8].contains(&bits) || ![32, 64, 128].contains(&group_size) {
                    return Err(format!("unsupported quantization of {path}: {bits} bits, group size {group_size}"));
                }
                Ok(Linear::Quant { w, scales, biases, b, group_size, bits })
            }
        }
    }
}

impl Model {
    /// Builds the model from a weight map (names as in Hugging Face / mlx-lm checkpoints).
    pub fn from_weights(config: ModelConfig, map: HashMap<String, Array>) -> MResult<Self> {
        let mut w = Weights { map };
        let embed = w.linear(&config, "model.embed_tokens")?;
        let rows = match &embed {
            Linear::Dense { w, .. } | Linear::Quant { w, .. } => w.shape().first().copied().unwrap_or(0),
        };
        if rows != config.vocab_size {
            return Err(format!("embedding has {rows} rows but config.json says vocab_size {}", config.vocab_size));
        }
        let mut layers = Vec::new();
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let attn = Attention {
                q: w.linear(&config, &format!("{p}.self_attn.q_proj"))?,
                k: w.linear(&config, &format!("{p}.self_attn.k_proj"))?,
                v: w.linear(&config, &format!("{p}.self_attn.v_proj"))?,
                o: w.linear(&config, &format!("{p}.self_attn.o_proj"))?,
                q_norm: w.map.remove(&format!("{p}.self_attn.q_norm.weight")),
                k_norm: w.map.remove(&format!("{p}.self_attn.k_norm.weight")),
            };
            if config.model_type == "qwen3" && (attn.q_norm.is_none() || attn.k_norm.is_none()) {
                return Err(format!("weights: qwen3 layer {i} lacks q_norm/k_norm"));
            }
            layers.push(Layer {
                attn,
                gate: w.linear(&config, &format!("{p}.mlp.gate_proj"))?,
                up: w.linear(&config, &format!("{p}.mlp.up_proj"))?,
                down: w.linear(&config, &format!("{p}.mlp.down_proj"))?,
                input_norm: w.take(&format!("{p}.input_layernorm.weight"))?,
                post_norm: w.take(&format!("{p}.post_attention_layernorm.weight"))?,
            });
        }
        let norm = w.take("model.norm.weight")?;
        let lm_head = if config.tied() { None } else { Some(w.linear(&config, "lm_head")?) };
        let rope = config.rope()?;
        let rope_freqs = match &rope {
            Rope::Llama3 { freqs } => Some(Array::from_slice(freqs, &[freqs.len() as i32])),
            Rope::Standard { .. } => None,
        };
        Ok(Model { config, embed, layers, norm, lm_head, rope, rope_freqs, swiglu: Swiglu::new() })
    }

    /// Every weight array, for forcing MLX's lazy loads to complete.
    pub fn arrays(&self) -> Vec<&Array> {
        let mut v = self.embed.arrays();
        for l in &self.layers {
            for lin in [&l.attn.q, &l.attn.k, &l.attn.v, &l.attn.o, &l.gate, &l.up, &l.down] {
                v.extend(lin.arrays());
            }
            v.extend([&l.input_norm, &l.post_norm]);
            v.extend(l.attn.q_norm.iter().chain(l.attn.k_norm.iter()));
        }
        v.push(&self.norm);
        if let Some(h) = &self.lm_head {
            v.extend(h.arrays());
        }
        v
    }

    fn rope(&self, x: &Array, offset: i32) -> MResult<Array> {
        let dims = self.config.head_dim();
        match &self.rope {
            Rope::Standard { base, scale } => {
                fast::rope(x, dims, self.config.rope_traditional, *base, *scale, offset, None).map_err(mlx_err)
            }
            Rope::Llama3 { .. } => {
                fast::rope(x, dims, self.config.rope_traditional, None, 1.0, offset, self.rope_freqs.as_ref()).map_err(mlx_err)
            }
        }
    }

    /// Logits `[1, L, vocab]` for token ids `[1, L]`, appending to the cache.
    pub fn forward(&self, ids: &Array, cache: &mut KvCache) -> MResult<Array> {
        let c = &self.config;
        let l = ids.dim(1);
        let mut h = self.embed.rows(ids)?;
        if cache.layers.len() != self.layers.len() {
            cache.layers = (0..self.layers.len()).map(|_| None).collect();
        }
        let eps = c.rms_norm_eps;
        let (nh, nkv, hd) = (c.n_heads(), c.n_kv_heads(), c.head_dim());
        let scale = (hd as f32).powf(-0.5);
        let offset = cache.offset;
        for (i, layer) in self.layers.iter().enumerate() {
            let x = fast::rms_norm(&h, Some(&layer.input_norm), eps).map_err(mlx_err)?;
            let a = &layer.attn;
            let heads = |t: Array, n: i32| -> MResult<Array> {
                t.reshape(&[1, l, n, -1]).and_then(|t| t.transpose_axes(&[0, 2, 1, 3])).map_err(mlx_err)
            };
            let mut q = heads(a.q.forward(&x)?, nh)?;
            let mut k = heads(a.k.forward(&x)?, nkv)?;
            let v = heads(a.v.forward(&x)?, nkv)?;
            if let (Some(qn), Some(kn)) = (&a.q_norm, &a.k_norm) {
                q = fast::rms_norm(&q, Some(qn), eps).map_err(mlx_err)?;
                k = fast::rms_norm(&k, Some(kn), eps).map_err(mlx_err)?;
            }
            let q = self.rope(&q, offset)?;
            let k = self.rope(&k, offset)?;
            let (k, v) = cache.update(i, k, v)?;
            let mask = (l > 1).then_some(ScaledDotProductAttentionMask::Causal);
            let o = fast::scaled_dot_product_attention(&q, &k, &v, scale, mask, None).map_err(mlx_err)?;
            let o = o.transpose_axes(&[0, 2, 1, 3]).and_then(|o| o.reshape(&[1, l, nh * hd])).map_err(mlx_err)?;
            h = h.add(a.o.forward(&o)?).map_err(mlx_err)?;
            let x = fast::rms_norm(&h, Some(&layer.post_norm), eps).map_err(mlx_err)?;
            let m = self.swiglu.apply(&layer.gate.forward(&x)?, &layer.up.forward(&x)?)?;
            h = h.add(layer.down.forward(&m)?).map_err(mlx_err)?;
        }
        cache.offset += l;
        let h = fast::rms_norm(&h, Some(&self.norm), eps).map_err(mlx_err)?;
        match &self.lm_head {
            Some(head) => head.forward(&h),
            None => self.embed.forward(&h),
        }
    }

    /// Whether the model's step uses compiled (fused) kernels.
    pub fn compiled(&self) -> bool {
        self.swiglu.compiled()
    }

    pub fn dtype(&self) -> Dtype {
        self.norm.dtype()
    }
}

/// Loads `model.safetensors` or the shards listed in `model.safetensors.index.json`.
pub fn load_weights(dir: &Path) -> MResult<HashMap<String, Array>> {
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    let files: Vec<std::path::PathBuf> = if single.exists() {
        vec![single]
    } else if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(|e| format!("{}: {e}", index.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", index.display()))?;
        let mut shards: Vec<String> = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| format!("{}: no weight_map", index.display()))?
            .values()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        shards.sort();
        shards.dedup();
        shards.into_iter().map(|s| dir.join(s)).collect()
    } else {
        return Err(format!("no model.safetensors or model.safetensors.index.json in {}", dir.display()));
    };
    let mut all = HashMap::new();
    for f in files {
        let part = Array::load_safetensors(&f).map_err(|e| format!("{}: cannot load safetensors: {e}", f.display()))?;
        all.extend(part);
    }
    // mlx-lm drops these precomputed buffers too
    all.retain(|k, _| !k.contains("rotary_emb.inv_freq"));
    Ok(all)
}
