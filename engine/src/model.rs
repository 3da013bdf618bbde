//! The transformer: Llama-family decoder layers (Llama 2/3, SmolLM, TinyLlama, Mistral),
//! Qwen2 (q/k/v biases), Qwen3 (q/k RMS norms) and Phi-3 (its fused projections split at
//! load by [`crate::fused`]; partial and `longrope` RoPE), Gemma 2 and 3 ([`crate::gemma`];
//! sliding-window layers in [`crate::rotating`]),
//! Mixtral and Qwen3-MoE (experts in [`crate::moe`]), grouped-query attention, RoPE, SwiGLU,
//! dense or MLX affine-quantized weights, tied or untied embeddings, and a KV cache.
//! The computation follows mlx-lm's so greedy outputs match it token for token.

use std::collections::HashMap;
use std::path::Path;

use mlx_rs::fast::ScaledDotProductAttentionMask;
use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::{Array, Dtype, Stream, fast, ops};

pub use super::cache::KvCache;
use super::config::{ModelConfig, Rope};
use super::linear::{Group, Linear, Weights};
use super::swiglu::Swiglu;
pub(crate) use super::swiglu::plain_step;

use crate::error::{Error, Result, json_err, mlx_err};

struct Attention {
    /// q, k and v
    qkv: Group,
    o: Linear,
    q_norm: Option<Array>,
    k_norm: Option<Array>,
}

/// A layer's MLP: dense (gate and up stacked) or a mixture of experts.
enum Ffn {
    Dense { gate_up: Group, down: Linear },
    Moe(crate::moe::Moe),
}

struct Layer {
    attn: Attention,
    ffn: Ffn,
    input_norm: Array,
    /// the norm before the MLP (Gemma 2's `pre_feedforward_layernorm`)
    post_norm: Array,
    /// Gemma 2's norms of the attention's and the MLP's outputs
    out_norms: Option<(Array, Array)>,
}

impl Layer {
    fn ffn_stacked(&self) -> bool {
        matches!(&self.ffn, Ffn::Dense { gate_up, .. } if gate_up.stacked())
    }

    fn arrays(&self) -> Vec<&Array> {
        let mut v = self.attn.qkv.arrays();
        v.extend(self.attn.o.arrays());
        match &self.ffn {
            Ffn::Dense { gate_up, down } => {
                v.extend(gate_up.arrays());
                v.extend(down.arrays());
            }
            Ffn::Moe(m) => v.extend(m.arrays()),
        }
        v.extend([&self.input_norm, &self.post_norm]);
        v.extend(self.out_norms.iter().flat_map(|(a, m)| [a, m]));
        v.extend(self.attn.q_norm.iter().chain(self.attn.k_norm.iter()));
        v
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
    /// Gemma 3's RoPE of its sliding-window layers
    local_rope: Option<Rope>,
    swiglu: Swiglu,
    gemma: Option<crate::gemma::Gemma>,
}

impl Model {
    /// Builds the model from a weight map (names as in Hugging Face / mlx-lm checkpoints).
    /// Stacked projections are materialised layer by layer, so loading holds at most one
    /// layer's weights twice.
    pub fn from_weights(config: ModelConfig, map: HashMap<String, Array>) -> Result<Self> {
        let plain = plain_step();
        let mut map = map;
        crate::fused::split(&config, &mut map)?;
        let mut w = Weights { map };
        let embed = w.linear(&config, "model.embed_tokens")?;
        let rows = embed.out_rows();
        if rows != config.vocab_size {
            return Err(Error::Model(format!("embedding has {rows} rows but config.json says vocab_size {}", config.vocab_size)));
        }
        let (hd, nh, nkv, hidden) = (config.head_dim(), config.n_heads(), config.n_kv_heads(), config.hidden_size);
        let mut layers = Vec::new();
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            // each projection's shape checked against the config, naming the tensor
            let mut proj = |n: &str, out: Option<i32>, cols: i32| -> Result<Linear> {
                let path = format!("{p}.{n}");
                let l = w.linear(&config, &path)?;
                l.expect(&path, out, cols)?;
                Ok(l)
            };
            let (q, kv) = (Some(nh * hd), Some(nkv * hd));
            let qkv =
                vec![proj("self_attn.q_proj", q, hidden)?, proj("self_attn.k_proj", kv, hidden)?, proj("self_attn.v_proj", kv, hidden)?];
            let o = proj("self_attn.o_proj", Some(hidden), nh * hd)?;
            let ffn = match crate::moe::Moe::load(&mut w, &config, &p, i)? {
                Some(m) => Ffn::Moe(m),
                None => {
                    let mut proj = |n: &str, out: Option<i32>, cols: i32| -> Result<Linear> {
                        let path = format!("{p}.{n}");
                        let l = w.linear(&config, &path)?;
                        l.expect(&path, out, cols)?;
                        Ok(l)
                    };
                    let gate = proj("mlp.gate_proj", None, hidden)?;
                    let inter = gate.out_rows();
                    let gate_up = vec![gate, proj("mlp.up_proj", Some(inter), hidden)?];
                    let down = proj("mlp.down_proj", Some(hidden), inter)?;
                    Ffn::Dense { gate_up: Group::new(gate_up, vec![inter, inter], !plain)?, down }
                }
            };
            let attn = Attention {
                qkv: Group::new(qkv, vec![nh * hd, nkv * hd, nkv * hd], !plain)?,
                o,
                q_norm: w.optional_norm(&config, &format!("{p}.self_attn.q_norm.weight"))?,
                k_norm: w.optional_norm(&config, &format!("{p}.self_attn.k_norm.weight"))?,
            };
            if config.model_type.starts_with("qwen3") && (attn.q_norm.is_none() || attn.k_norm.is_none()) {
                return Err(Error::Model(format!("weights: qwen3 layer {i} lacks q_norm/k_norm")));
            }
            let mut norm = |n: &str| w.norm(&config, &format!("{p}.{n}.weight"));
            let (input_norm, post_attn) = (norm("input_layernorm")?, norm("post_attention_layernorm")?);
            let (post_norm, out_norms) = match config.gemma() {
                Some(_) => (norm("pre_feedforward_layernorm")?, Some((post_attn, norm("post_feedforward_layernorm")?))),
                None => (post_attn, None),
            };
            let layer = Layer { attn, ffn, input_norm, post_norm, out_norms };
            if layer.attn.qkv.stacked() || layer.ffn_stacked() {
                mlx_rs::transforms::eval(layer.arrays()).map_err(|e| Error::Model(format!("materialising layer {i}: {e}")))?;
            }
            layers.push(layer);
        }
        let norm = w.norm(&config, "model.norm.weight")?;
        // Gemma 3 ties its head exactly when the checkpoint has none (mlx-lm's sanitize)
        let untied = if config.model_type == "gemma3_text" { w.map.contains_key("lm_head.weight") } else { !config.tied() };
        let lm_head = if untied { Some(w.linear(&config, "lm_head")?) } else { None };
        let rope = config.rope()?;
        let rope_freqs = match &rope {
            Rope::Llama3 { freqs } | Rope::Su { freqs, .. } => Some(Array::from_slice(freqs, &[freqs.len() as i32])),
            Rope::Standard { .. } => None,
        };
        let gemma = config.gemma();
        let local_rope = config.local_rope();
        Ok(Model { config, embed, layers, norm, lm_head, rope, rope_freqs, local_rope, swiglu: Swiglu::new(!plain), gemma })
    }

    /// Every weight array, for forcing MLX's lazy loads to complete.
    pub fn arrays(&self) -> Vec<&Array> {
        let mut v = self.embed.arrays();
        for l in &self.layers {
            v.extend(l.arrays());
        }
        v.push(&self.norm);
        if let Some(h) = &self.lm_head {
            v.extend(h.arrays());
        }
        v
    }

    fn rope(&self, x: &Array, offset: i32, local: bool) -> Result<Array> {
        let dims = self.config.rope_dims();
        let traditional = self.config.rope_traditional;
        match self.local_rope.as_ref().filter(|_| local).unwrap_or(&self.rope) {
            Rope::Standard { base, scale } => fast::rope(x, dims, traditional, *base, *scale, offset, None).map_err(mlx_err),
            Rope::Llama3 { .. } => fast::rope(x, dims, traditional, None, 1.0, offset, self.rope_freqs.as_ref()).map_err(mlx_err),
            Rope::Su { scale, .. } => {
                // the rotated dimensions scaled first (mlx-lm's SuScaledRoPE; never traditional)
                let scaled = if *scale == 1.0 {
                    x.clone()
                } else if dims == self.config.head_dim() {
                    x.multiply(Array::from_f32(*scale).as_dtype(x.dtype()).map_err(mlx_err)?).map_err(mlx_err)?
                } else {
                    let (r, rest) =
                        (x.try_index((.., .., .., 0..dims)).map_err(mlx_err)?, x.try_index((.., .., .., dims..)).map_err(mlx_err)?);
                    ops::concatenate(
                        &[&r.multiply(Array::from_f32(*scale).as_dtype(x.dtype()).map_err(mlx_err)?).map_err(mlx_err)?, &rest],
                        -1,
                    )
                    .map_err(mlx_err)?
                };
                fast::rope(&scaled, dims, false, None, 1.0, offset, self.rope_freqs.as_ref()).map_err(mlx_err)
            }
        }
    }

    /// Queries, keys and values `[1, heads, L, head_dim]`, RoPE applied. With stacked
    /// projections and no q/k norms, q and k are neighbouring heads of one product and
    /// take one RoPE kernel (each head is rotated on its own, so the values are the same).
    fn qkv(&self, a: &Attention, x: &Array, offset: i32, local: bool, stream: &Stream) -> Result<(Array, Array, Array)> {
        let c = &self.config;
        let (nh, nkv, hd) = (c.n_heads(), c.n_kv_heads(), c.head_dim());
        // [1, L, heads, head_dim] -> [1, heads, L, head_dim]
        let heads = |t: Array| t.transpose_axes(&[0, 2, 1, 3]).map_err(mlx_err);
        let part = |t: &Array, r: std::ops::Range<i32>| crate::raw::slice_axis(t, 1, r, stream);
        if a.q_norm.is_none()
            && let Some(y) = a.qkv.joint(x, hd)?
        {
            // one transpose of all heads, then views of it
            let y = heads(y)?;
            let qk = self.rope(&part(&y, 0..nh + nkv)?, offset, local)?;
            return Ok((part(&qk, 0..nh)?, part(&qk, nh..nh + nkv)?, part(&y, nh + nkv..nh + 2 * nkv)?));
        }
        let mut it = a.qkv.forward(x, hd, stream)?.into_iter().map(heads);
        let mut next = || it.next().ok_or_else(|| Error::MlxCall("attention: q, k, v expected".into()))?;
        let (mut q, mut k, v) = (next()?, next()?, next()?);
        if let (Some(qn), Some(kn)) = (&a.q_norm, &a.k_norm) {
            q = fast::rms_norm(&q, Some(qn), c.rms_norm_eps).map_err(mlx_err)?;
            k = fast::rms_norm(&k, Some(kn), c.rms_norm_eps).map_err(mlx_err)?;
        }
        Ok((self.rope(&q, offset, local)?, self.rope(&k, offset, local)?, v))
    }

    /// The masks of one call for `l` new positions after `offset`, made once as mlx-lm
    /// makes them: Gemma 2's causal one (its attention is computed by hand) and the window
    /// layers' (one window per model); `None` where the kernel's causal mode or no mask does.
    fn masks(&self, l: i32, offset: i32) -> Result<(Option<Array>, Option<Array>)> {
        let c = &self.config;
        let capped = self.gemma.is_some_and(|g| g.attn_cap.is_some());
        let causal = if capped && l > 1 { Some(crate::rotating::causal(l, offset, None)?) } else { None };
        let windowed = match (0..c.num_hidden_layers).find_map(|i| c.window_of(i)) {
            Some(w) => crate::rotating::mask(l, offset, w)?,
            None => None,
        };
        Ok((causal, windowed))
    }

    /// Attention `[1, heads, L, d]` of one layer (`in_window`: a sliding-window layer).
    fn attend(
        &self,
        q: &Array,
        k: &Array,
        v: &Array,
        masks: &(Option<Array>, Option<Array>),
        in_window: bool,
        scale: f32,
    ) -> Result<Array> {
        if let Some((g, cap)) = self.gemma.and_then(|g| g.attn_cap.map(|cap| (g, cap))) {
            return g.attention(q, k, v, masks.0.as_ref(), cap);
        }
        let mask = match masks.1.as_ref().filter(|_| in_window) {
            Some(m) => Some(ScaledDotProductAttentionMask::Array(m)),
            None => (q.dim(2) > 1).then_some(ScaledDotProductAttentionMask::Causal),
        };
        let scale = self.gemma.map_or(scale, |g| g.scale);
        fast::scaled_dot_product_attention(q, k, v, scale, mask, None).map_err(mlx_err)
    }

    /// Logits `[1, L, vocab]` for token ids `[1, L]`, appending to the cache. Every
    /// operation is recorded on one stream set once for the call (`with_stream`): without
    /// it mlx-rs looks MLX's default device and stream up for each operation, host time a
    /// decode step pays hundreds of times.
    pub fn forward(&self, ids: &Array, cache: &mut KvCache) -> Result<Array> {
        let stream = Stream::thread_local_or_default();
        mlx_rs::with_stream(&stream, || self.forward_on(ids, cache, &stream))
    }

    fn forward_on(&self, ids: &Array, cache: &mut KvCache, stream: &Stream) -> Result<Array> {
        let c = &self.config;
        let l = ids.dim(1);
        let mut h = self.embed.rows(ids)?;
        if let Some(g) = &self.gemma {
            h = g.scale_embeddings(&h, c.hidden_size)?;
        }
        let add = |x: &Array, y: Array| match &self.gemma {
            Some(g) => g.residual(x, &y),
            None => x.add(y).map_err(mlx_err),
        };
        if cache.layers.len() != self.layers.len() {
            cache.layers = (0..self.layers.len()).map(|_| None).collect();
            cache.windows = (0..self.layers.len()).map(|_| None).collect();
        }
        let eps = c.rms_norm_eps;
        let (nh, hd) = (c.n_heads(), c.head_dim());
        let scale = (hd as f32).powf(-0.5);
        let offset = cache.offset;
        let masks = self.masks(l, offset)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let x = fast::rms_norm(&h, Some(&layer.input_norm), eps).map_err(mlx_err)?;
            let a = &layer.attn;
            let window = c.window_of(i as i32);
            let (q, k, v) = self.qkv(a, &x, offset, window.is_some(), stream)?;
            let (k, v) = match window {
                Some(w) => crate::rotating::update(&mut cache.windows[i], offset, w, k, v, stream)?,
                None => cache.update(i, k, v, stream)?,
            };
            let o = self.attend(&q, &k, &v, &masks, window.is_some(), scale)?;
            let o = o.transpose_axes(&[0, 2, 1, 3]).and_then(|o| o.reshape(&[1, l, nh * hd])).map_err(mlx_err)?;
            let out_norm = |r: Array, which: usize| match &layer.out_norms {
                Some(n) => fast::rms_norm(&r, Some(if which == 0 { &n.0 } else { &n.1 }), eps).map_err(mlx_err),
                None => Ok(r),
            };
            h = add(&h, out_norm(a.o.forward(&o)?, 0)?)?;
            let x = fast::rms_norm(&h, Some(&layer.post_norm), eps).map_err(mlx_err)?;
            let r = match &layer.ffn {
                Ffn::Dense { gate_up, down } => {
                    // gate and up `[1, L, intermediate]` (stacked: views of one product)
                    let gu = gate_up.split(&x, stream)?;
                    let (g, u) = gu.first().zip(gu.get(1)).ok_or_else(|| Error::MlxCall("mlp: gate and up expected".into()))?;
                    let m = match self.gemma {
                        Some(_) => crate::gemma::gelu_approx(g)?.multiply(u).map_err(mlx_err)?,
                        None => self.swiglu.apply(g, u)?,
                    };
                    down.forward(&m)?
                }
                Ffn::Moe(moe) => moe.forward(&x, &|g, u| self.swiglu.apply(g, u))?,
            };
            h = add(&h, out_norm(r, 1)?)?;
        }
        cache.offset += l;
        let h = fast::rms_norm(&h, Some(&self.norm), eps).map_err(mlx_err)?;
        let logits = match &self.lm_head {
            Some(head) => head.forward(&h)?,
            None => self.embed.forward(&h)?,
        };
        match self.gemma.and_then(|g| g.final_cap) {
            Some(cap) => crate::gemma::softcap(&logits, cap),
            None => Ok(logits),
        }
    }

    /// Whether the model's step uses compiled (fused) kernels.
    pub fn compiled(&self) -> bool {
        self.swiglu.compiled()
    }

    /// Whether q/k/v and gate/up run as stacked matmuls (one kernel each).
    pub fn stacked(&self) -> bool {
        self.layers.iter().any(|l| l.attn.qkv.stacked() || l.ffn_stacked())
    }

    pub fn dtype(&self) -> Dtype {
        self.norm.dtype()
    }
}

/// Loads `model.safetensors` or the shards listed in `model.safetensors.index.json`.
pub fn load_weights(dir: &Path) -> Result<HashMap<String, Array>> {
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    let files: Vec<std::path::PathBuf> = if single.exists() {
        vec![single]
    } else if index.exists() {
        let text = crate::files::read_text(&index, crate::files::JSON_LIMIT)?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(json_err(index.display()))?;
        let mut shards: Vec<String> = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::Model(format!("{}: no weight_map", index.display())))?
            .values()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        shards.sort();
        shards.dedup();
        shards.into_iter().map(|s| dir.join(s)).collect()
    } else {
        return Err(Error::Model(format!("no model.safetensors or model.safetensors.index.json in {}", dir.display())));
    };
    let mut all = HashMap::new();
    for f in files {
        crate::files::check(&f)?;
        let part = Array::load_safetensors(&f).map_err(|e| Error::Model(format!("{}: cannot load safetensors: {e}", f.display())))?;
        all.extend(part);
    }
    // mlx-lm drops these precomputed buffers too
    all.retain(|k, _| !k.contains("rotary_emb.inv_freq"));
    Ok(all)
}
