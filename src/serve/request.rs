//! The request bodies both APIs accept, as typed structs of [`super::fields`]. Fields a
//! struct does not name are ignored, as Ollama and OpenAI servers ignore them; fields the
//! server cannot honour are named here (as [`Loose`]) so a request that sets one is
//! refused by name rather than answered as if it were not there.

use serde::Deserialize;

use super::fields::{Flag, List, Loose, Num, Obj, Stop, Text};

/// Ollama's `/api/generate`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Generate {
    pub model: Text,
    /// The older alias of `model` (Ollama's CLI still sends it).
    pub name: Text,
    pub prompt: Text,
    pub system: Text,
    pub raw: Flag,
    pub stream: Flag,
    pub options: Obj<OllamaOptions>,
    pub keep_alive: Loose,
    pub format: Loose,
    pub images: Loose,
    pub template: Loose,
    pub suffix: Loose,
    pub context: Loose,
}

/// Ollama's `/api/chat`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Chat {
    pub model: Text,
    pub name: Text,
    pub messages: List<Obj<OllamaMessage>>,
    pub stream: Flag,
    pub options: Obj<OllamaOptions>,
    pub keep_alive: Loose,
    pub format: Loose,
    pub tools: Loose,
}

/// Ollama's `/api/show` and `/api/pull`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ModelRequest {
    pub model: Text,
    pub name: Text,
    pub stream: Flag,
}

/// What Ollama's generate and chat share, borrowed for the common path.
pub struct OllamaAsk<'a> {
    pub model: &'a Text,
    pub name: &'a Text,
    pub options: Option<&'a OllamaOptions>,
    pub keep_alive: &'a Loose,
    pub stream: Flag,
}

/// `ask()` (what generate and chat share) and `refused()` (the first field set that
/// this server refuses) for one of Ollama's request structs.
macro_rules! ollama_request {
    ($t:ty, refuses: $($field:ident),+) => {
        impl $t {
            pub fn ask(&self) -> OllamaAsk<'_> {
                OllamaAsk {
                    model: &self.model,
                    name: &self.name,
                    options: self.options.0.as_ref(),
                    keep_alive: &self.keep_alive,
                    stream: self.stream,
                }
            }

            pub fn refused(&self) -> Option<&'static str> {
                [$((stringify!($field), &self.$field)),+].into_iter().find(|(_, v)| v.is_set()).map(|(name, _)| name)
            }
        }
    };
}

ollama_request!(Generate, refuses: format, images, template, suffix, context);
ollama_request!(Chat, refuses: format, tools);

/// The options mlxbench serve reads; Ollama's others (`num_ctx`, `top_k`, ...) are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OllamaOptions {
    pub temperature: Num,
    pub top_p: Num,
    pub num_predict: Num,
    pub seed: Num,
    pub stop: Stop,
    /// mlxbench's own: generate exactly `num_predict` tokens.
    pub ignore_eos: Flag,
}

/// One of Ollama's chat messages: a `null` content is empty text.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OllamaMessage {
    pub role: Text,
    pub content: Text,
    pub images: Loose,
}

/// OpenAI's `/v1/chat/completions` and `/v1/completions`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OpenAi {
    pub model: Text,
    pub messages: List<Obj<OpenAiMessage>>,
    /// A string, or a list of one string.
    pub prompt: Loose,
    pub stream: Flag,
    pub stream_options: Obj<StreamOptions>,
    pub temperature: Num,
    pub top_p: Num,
    pub max_tokens: Num,
    pub max_completion_tokens: Num,
    pub n: Num,
    pub seed: Num,
    pub stop: Stop,
    /// vLLM's and llama.cpp's extension.
    pub ignore_eos: Flag,
    pub tools: Loose,
    pub functions: Loose,
    pub logprobs: Loose,
    pub response_format: Loose,
}

impl OpenAi {
    /// Fields set that this server refuses (`false` and a `{"type": "text"}` format are
    /// what a client sends to say "none").
    pub fn refused(&self) -> Option<&'static str> {
        [("tools", &self.tools), ("functions", &self.functions), ("logprobs", &self.logprobs), ("response_format", &self.response_format)]
            .into_iter()
            .find(|(_, v)| {
                v.0.as_ref().is_some_and(|v| v != &serde_json::json!(false) && v.get("type") != Some(&serde_json::json!("text")))
            })
            .map(|(name, _)| name)
    }
}

/// One of OpenAI's chat messages: `content` is text or a list of text parts.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OpenAiMessage {
    pub role: Text,
    pub content: Loose,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StreamOptions {
    pub include_usage: Flag,
}
