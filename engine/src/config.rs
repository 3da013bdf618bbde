//! `config.json` of a Hugging Face / MLX model directory: the architectures we run and
//! their hyper-parameters. Anything we cannot run is a clear error naming it.

use crate::error::{Error, Result, json_err};
use serde::Deserialize;
use serde_json::Value;

/// Architectures the engine implements (`model_type`).
pub const SUPPORTED: &[&str] = &["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3_text", "mixtral", "qwen3_moe"];

/// The fields we use; unknown fields are ignored as Hugging Face configs carry many.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelConfig {
    pub model_type: String,
    pub hidden_size: i32,
    pub num_hidden_layers: i32,
    pub num_attention_heads: i32,
    #[serde(default)]
    pub num_key_value_heads: Option<i32>,
    pub intermediate_size: i32,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f32,
    #[serde(default = "default_theta")]
    pub rope_theta: f32,
    #[serde(default)]
    pub rope_traditional: bool,
    #[serde(default)]
    pub rope_scaling: Option<Value>,
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    pub vocab_size: i32,
    #[serde(default)]
    pub head_dim: Option<i32>,
    #[serde(default)]
    pub max_position_embeddings: Option<i32>,
    /// The share of each head's dimensions that RoPE rotates (Phi-4-mini: 0.75).
    #[serde(default)]
    pub partial_rotary_factor: Option<f32>,
    /// The context the model was trained with before long-context scaling (Phi-3's
    /// `longrope`/`su` scaling derives its attention scale from it).
    #[serde(default)]
    pub original_max_position_embeddings: Option<i32>,
    /// Gemma 2: attention logits soft-capped at this (mlx-lm's default 50).
    #[serde(default)]
    pub attn_logit_softcapping: Option<f32>,
    /// Gemma 2: final logits soft-capped at this (mlx-lm's default 30).
    #[serde(default)]
    pub final_logit_softcapping: Option<f32>,
    /// Gemma 2: attention is scaled by this to the power -1/2 (mlx-lm's default 144).
    #[serde(default)]
    pub query_pre_attn_scalar: Option<f32>,
    /// Gemma 3: the RoPE base of its sliding-window layers (10000).
    #[serde(default)]
    pub rope_local_base_freq: Option<f32>,
    /// Gemma 3: the window of its sliding layers (512); Llama/Mistral: of the layers
    /// `layer_types` calls "sliding_attention".
    #[serde(default)]
    pub sliding_window: Option<i32>,
    #[serde(default)]
    pub layer_types: Vec<String>,
    /// Gemma 3: every `sliding_window_pattern`-th layer attends globally (6).
    #[serde(default)]
    pub sliding_window_pattern: Option<i32>,
    /// Mixtral: experts per MoE layer.
    #[serde(default)]
    pub num_local_experts: Option<i32>,
    /// Qwen3-MoE: experts per MoE layer.
    #[serde(default)]
    pub num_experts: Option<i32>,
    /// Experts each token is routed to.
    #[serde(default)]
    pub num_experts_per_tok: Option<i32>,
    /// Qwen3-MoE: the routed experts' weights renormalised to sum to 1.
    #[serde(default)]
    pub norm_topk_prob: Option<bool>,
    /// Qwen3-MoE: every `decoder_sparse_step`-th layer is sparse...
    #[serde(default)]
    pub decoder_sparse_step: Option<i32>,
    /// ...except these, which keep a dense MLP.
    #[serde(default)]
    pub mlp_only_layers: Vec<i32>,
    /// MLX affine quantization: `{ "group_size": 64, "bits": 4 }`, optionally with
    /// per-layer overrides keyed by module path.
    #[serde(default)]
    pub quantization: Option<Value>,
    #[serde(default)]
    pub eos_token_id: Option<Value>,
    #[serde(default)]
    pub bos_token_id: Option<Value>,
}

fn default_eps() -> f32 {
    1e-6
}

fn default_theta() -> f32 {
    10_000.0
}

/// How a mixture-of-experts router turns logits into the chosen experts' weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Routing {
    /// Mixtral: top-k of the logits, softmax over those k.
    TopKThenSoftmax,
    /// Qwen3-MoE: softmax over all experts, top-k of that, renormalised when asked.
    SoftmaxThenTopK { renormalise: bool },
}

/// A sparse layer's layout: where its weights are, how many experts, how tokens are
/// routed, and Hugging Face's per-expert tensor names with their stacked names.
#[derive(Debug, Clone, Copy)]
pub struct MoeLayout {
    pub prefix: &'static str,
    pub experts: i32,
    pub routing: Routing,
    pub names: &'static [(&'static str, &'static str)],
}

/// How rotary position embeddings are computed.
#[derive(Debug, Clone, PartialEq)]
pub enum Rope {
    /// `fast::rope` with `base` and `scale` (linear scaling sets scale = 1 / factor).
    Standard { base: f32, scale: f32 },
    /// Llama 3 scaling: precomputed per-dimension frequencies.
    Llama3 { freqs: Vec<f32> },
    /// Phi-3's `longrope` (`su`) scaling: the long factors times the base frequencies,
    /// and the rotated dimensions of q and k multiplied by `scale` first.
    Su { freqs: Vec<f32>, scale: f32 },
}

impl ModelConfig {
    pub fn parse(text: &str) -> Result<Self> {
        let raw: Value = serde_json::from_str(text).map_err(json_err("config.json"))?;
        // the architecture first: an unsupported model is named as such, not by a field it lacks
        if let Some(t) = raw.get("model_type").and_then(Value::as_str)
            && !SUPPORTED.contains(&t)
        {
            return Err(Error::Unsupported(format!("unsupported architecture \"{t}\" (model_type); supported: {}", SUPPORTED.join(", "))));
        }
        // sliding-window layers (`layer_types`) run for Llama/Mistral as mlx-lm's llama.py
        // runs them; elsewhere attending over the whole context would give other tokens, so
        // they are refused by name (`sliding_window` alone is full attention, as in mlx-lm)
        let sliding = raw.get("layer_types").and_then(Value::as_array).is_some_and(|t| t.iter().any(|l| l == "sliding_attention"));
        let llama = matches!(raw.get("model_type").and_then(Value::as_str), Some("llama" | "mistral"));
        if sliding && !(llama && raw.get("sliding_window").and_then(Value::as_i64).is_some_and(|w| w > 0)) {
            return Err(Error::Unsupported(
                "sliding-window attention layers (`layer_types` with \"sliding_attention\") are supported for llama and mistral with a `sliding_window`".into(),
            ));
        }
        let c: ModelConfig = serde_json::from_value(raw).map_err(json_err("config.json"))?;
        c.check_sizes()?;
        if c.n_heads() % c.n_kv_heads() != 0 {
            return Err(Error::Model(format!(
                "config.json: {} attention heads is not a multiple of {} key/value heads",
                c.n_heads(),
                c.n_kv_heads()
            )));
        }
        c.rope()?;
        Ok(c)
    }

    /// Every size positive, within what a real model has, and consistent, so that no
    /// later division, reshape or allocation can fail natively.
    fn check_sizes(&self) -> Result<()> {
        let sizes = [
            ("hidden_size", self.hidden_size, 1 << 17),
            ("num_hidden_layers", self.num_hidden_layers, 4096),
            ("num_attention_heads", self.num_attention_heads, 4096),
            ("num_key_value_heads", self.num_key_value_heads.unwrap_or(self.num_attention_heads), 4096),
            ("intermediate_size", self.intermediate_size, 1 << 20),
            ("vocab_size", self.vocab_size, 1 << 24),
            ("head_dim", self.head_dim.unwrap_or(1), 1 << 12),
            ("max_position_embeddings", self.max_position_embeddings.unwrap_or(1), 1 << 24),
        ];
        for (name, v, max) in sizes {
            if v <= 0 || v > max {
                return Err(Error::Model(format!("config: {name} = {v} is not a model size (must be 1..={max})")));
            }
        }
        if self.head_dim.is_none() && self.hidden_size % self.num_attention_heads != 0 {
            return Err(Error::Model(format!(
                "config: hidden_size {} is not a multiple of {} heads",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if self.head_dim() % 2 != 0 {
            return Err(Error::Model(format!("config: head dimension {} is odd; rotary embeddings need it even", self.head_dim())));
        }
        let rotated = self.rope_dims();
        if rotated <= 0 || rotated % 2 != 0 || rotated > self.head_dim() {
            return Err(Error::Model(format!(
                "config: partial_rotary_factor {:?} rotates {rotated} of {} head dimensions (must be a positive even number, at most all)",
                self.partial_rotary_factor,
                self.head_dim()
            )));
        }
        Ok(())
    }

    pub fn n_heads(&self) -> i32 {
        self.num_attention_heads
    }

    pub fn n_kv_heads(&self) -> i32 {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads).max(1)
    }

    pub fn head_dim(&self) -> i32 {
        match self.head_dim {
            // Phi-3 derives it, as mlx-lm does, whatever the config says
            Some(d) if self.model_type != "phi3" => d,
            _ => self.hidden_size / self.num_attention_heads,
        }
    }

    /// The dimensions of each head RoPE rotates (all but for a partial rotary factor).
    pub fn rope_dims(&self) -> i32 {
        (self.head_dim() as f32 * self.partial_rotary_factor.unwrap_or(1.0)) as i32
    }

    /// mlx-lm's default: embeddings are tied unless the config says otherwise.
    pub fn tied(&self) -> bool {
        // Gemma 2's head is always its embeddings
        self.model_type == "gemma2" || self.tie_word_embeddings.unwrap_or(true)
    }

    /// The window of layer `i` when it is a sliding-window layer (Gemma 3's pattern, or
    /// Llama/Mistral's `layer_types`).
    pub fn window_of(&self, i: i32) -> Option<i32> {
        match self.model_type.as_str() {
            "gemma3_text" => {
                let pattern = self.sliding_window_pattern.unwrap_or(6).max(1);
                ((i + 1) % pattern != 0).then(|| self.sliding_window.unwrap_or(512).max(1))
            }
            "llama" | "mistral" => {
                let sliding = self.layer_types.get(i as usize).is_some_and(|t| t == "sliding_attention");
                self.sliding_window.filter(|_| sliding).map(|w| w.max(1))
            }
            _ => None,
        }
    }

    /// Gemma 3's RoPE of its sliding-window layers.
    pub fn local_rope(&self) -> Option<Rope> {
        (self.model_type == "gemma3_text").then(|| Rope::Standard { base: self.rope_local_base_freq.unwrap_or(10_000.0), scale: 1.0 })
    }

    /// Experts each token is routed to (1 when the config does not say).
    pub fn experts_per_token(&self) -> i32 {
        self.num_experts_per_tok.unwrap_or(1)
    }

    /// Whether layer `i` is a mixture of experts, and how.
    pub fn moe_layer(&self, i: i32) -> Option<MoeLayout> {
        match self.model_type.as_str() {
            "mixtral" => Some(MoeLayout {
                prefix: "block_sparse_moe",
                experts: self.num_local_experts?,
                routing: Routing::TopKThenSoftmax,
                names: &[("w1", "gate_proj"), ("w2", "down_proj"), ("w3", "up_proj")],
            }),
            "qwen3_moe" => {
                let experts = self.num_experts.filter(|n| *n > 0)?;
                let sparse = !self.mlp_only_layers.contains(&i) && (i + 1) % self.decoder_sparse_step.unwrap_or(1).max(1) == 0;
                sparse.then_some(MoeLayout {
                    prefix: "mlp",
                    experts,
                    routing: Routing::SoftmaxThenTopK { renormalise: self.norm_topk_prob.unwrap_or(false) },
                    names: &[("gate_proj", "gate_proj"), ("up_proj", "up_proj"), ("down_proj", "down_proj")],
                })
            }
            _ => None,
        }
    }

    /// Gemma 2's constants, for a Gemma 2 model.
    pub fn gemma(&self) -> Option<crate::gemma::Gemma> {
        let three = self.model_type == "gemma3_text";
        (self.model_type == "gemma2" || three).then(|| crate::gemma::Gemma {
            scale: (self.query_pre_attn_scalar.unwrap_or(if three { 256.0 } else { 144.0 }) as f64).powf(-0.5) as f32,
            // Gemma 3 caps nothing (mlx-lm's gemma3_text has no soft-capping)
            attn_cap: if three { None } else { Some(self.attn_logit_softcapping.unwrap_or(50.0)) },
            final_cap: if three { None } else { Some(self.final_logit_softcapping.unwrap_or(30.0)) },
            three,
        })
    }

    /// (group_size, bits) for the module at `path` (e.g. `model.layers.0.mlp.up_proj`).
    pub fn quantization_for(&self, path: &str) -> Option<(i32, i32)> {
        let q = self.quantization.as_ref()?;
        let read = |v: &Value| -> Option<(i32, i32)> { Some((v.get("group_size")?.as_i64()? as i32, v.get("bits")?.as_i64()? as i32)) };
        match q.get(path) {
            Some(v) if v.is_object() => read(v),
            _ => read(q),
        }
    }

    pub fn rope(&self) -> Result<Rope> {
        let dims = self.rope_dims();
        let Some(s) = self.rope_scaling.as_ref().filter(|s| !s.is_null()) else {
            return Ok(Rope::Standard { base: self.rope_theta, scale: 1.0 });
        };
        let kind = s.get("rope_type").or_else(|| s.get("type")).and_then(Value::as_str).unwrap_or("default");
        let f = |k: &str, d: f64| s.get(k).and_then(Value::as_f64).unwrap_or(d) as f32;
        match kind {
            "default" => Ok(Rope::Standard { base: self.rope_theta, scale: 1.0 }),
            "linear" => Ok(Rope::Standard { base: self.rope_theta, scale: 1.0 / f("factor", 1.0) }),
            "llama3" => {
                let factor = f("factor", 1.0);
                let low = f("low_freq_factor", 1.0);
                let high = f("high_freq_factor", 4.0);
                let old = f("original_max_position_embeddings", 8192.0);
                let low_wavelen = old / low;
                let high_wavelen = old / high;
                let freqs = (0..dims)
                    .step_by(2)
                    .map(|i| {
                        let freq = self.rope_theta.powf(i as f32 / dims as f32);
                        let wavelen = 2.0 * std::f32::consts::PI * freq;
                        let scaled = if wavelen > low_wavelen { freq * factor } else { freq };
                        if wavelen > high_wavelen && wavelen < low_wavelen {
                            let smooth = (old / wavelen - low) / (high - low);
                            scaled / ((1.0 - smooth) / factor + smooth)
                        } else {
                            scaled
                        }
                    })
                    .collect();
                Ok(Rope::Llama3 { freqs })
            }
            "longrope" | "su" => self.su_rope(s, dims),
            other => Err(Error::Unsupported(format!("unsupported rope scaling \"{other}\""))),
        }
    }

    /// Phi-3's long-context RoPE: frequencies `long_factor[i] * base^(2i / dims)`, and a
    /// scale `sqrt(1 + ln(f) / ln(original))` for a context `f` times the original one
    /// (1 when not longer), as mlx-lm's `SuScaledRoPE` computes them.
    fn su_rope(&self, s: &Value, dims: i32) -> Result<Rope> {
        let half = (dims / 2) as usize;
        let factors: Vec<f32> = match s.get("long_factor") {
            Some(Value::Array(a)) => a.iter().map(|v| v.as_f64().map(|x| x as f32)).collect::<Option<_>>().unwrap_or_default(),
            Some(v) => v.as_f64().map(|x| vec![x as f32; half]).unwrap_or_default(),
            None => Vec::new(),
        };
        if factors.len() != half {
            return Err(Error::Model(format!(
                "config: rope_scaling.long_factor needs {half} numbers (one per rotated pair), has {}",
                factors.len()
            )));
        }
        let freqs = factors.iter().enumerate().map(|(i, f)| f * self.rope_theta.powf((2 * i) as f32 / dims as f32)).collect();
        let original = self.original_max_position_embeddings.unwrap_or(4096).max(2) as f32;
        let factor = self.max_position_embeddings.unwrap_or(131_072) as f32 / original;
        let scale = match s.get("long_mscale").and_then(Value::as_f64) {
            Some(m) if m != 0.0 => m as f32,
            _ if factor <= 1.0 => 1.0,
            _ => (1.0 + factor.ln() / original.ln()).sqrt(),
        };
        Ok(Rope::Su { freqs, scale })
    }

    /// End-of-sequence ids from the config (a number or a list).
    pub fn eos_ids(&self) -> Vec<u32> {
        match &self.eos_token_id {
            Some(Value::Number(n)) => n.as_u64().map(|v| vec![v as u32]).unwrap_or_default(),
            Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_u64().map(|v| v as u32)).collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
