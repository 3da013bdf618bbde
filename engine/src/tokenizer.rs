//! Tokenizer (`tokenizer.json` through the `tokenizers` crate), chat templates from
//! `tokenizer_config.json` rendered with minijinja (+ Python string methods), and an
//! incremental detokenizer that never splits a multi-byte character.

use std::path::Path;

use serde_json::Value;

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    chat_template: Option<String>,
    bos: Option<String>,
    eos: Option<String>,
    pub eos_ids: Vec<u32>,
}

fn special(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

impl Tokenizer {
    pub fn load(dir: &Path, config_eos: &[u32]) -> Result<Self, String> {
        let tj = dir.join("tokenizer.json");
        let inner = tokenizers::Tokenizer::from_file(&tj).map_err(|e| format!("{}: {e}", tj.display()))?;
        let cfg: Value = std::fs::read_to_string(dir.join("tokenizer_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        // newer checkpoints keep the template in its own file
        let file_template = std::fs::read_to_string(dir.join("chat_template.jinja")).ok();
        Ok(Self::from_parts(inner, &cfg, file_template, config_eos))
    }

    /// From a `tokenizers` tokenizer and a `tokenizer_config.json` value.
    pub fn from_parts(inner: tokenizers::Tokenizer, cfg: &Value, file_template: Option<String>, config_eos: &[u32]) -> Self {
        let chat_template = match cfg.get("chat_template") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                .or_else(|| list.first())
                .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
            _ => None,
        }
        .or(file_template);
        let bos = special(cfg.get("bos_token"));
        let eos = special(cfg.get("eos_token"));
        let mut eos_ids: Vec<u32> = config_eos.to_vec();
        if let Some(id) = eos.as_deref().and_then(|e| inner.token_to_id(e))
            && !eos_ids.contains(&id)
        {
            eos_ids.push(id);
        }
        Tokenizer { inner, chat_template, bos, eos, eos_ids }
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of a completion prompt (special tokens such as BOS added as the
    /// tokenizer's post-processor says).
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>, String> {
        self.inner.encode(text, special).map(|e| e.get_ids().to_vec()).map_err(|e| format!("tokenizer: {e}"))
    }

    /// Renders the chat template with a generation prompt; `None` without a template.
    pub fn render_chat<M: serde::Serialize>(&self, messages: &[M]) -> Result<Option<String>, String> {
        let Some(tpl) = &self.chat_template else { return Ok(None) };
        let mut env = minijinja::Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
        });
        env.add_template("chat", tpl).map_err(|e| format!("chat template: {e}"))?;
        let t = env.get_template("chat").map_err(|e| format!("chat template: {e}"))?;
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => self.bos.clone().unwrap_or_default(),
            eos_token => self.eos.clone().unwrap_or_default(),
        };
        t.render(ctx).map(Some).map_err(|e| format!("chat template: {e}"))
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, false).unwrap_or_default()
    }
}

/// Emits text as tokens arrive, holding back bytes of an unfinished UTF-8 character.
#[derive(Default)]
pub struct Detokenizer {
    ids: Vec<u32>,
    prefix: usize,
    read: usize,
}

impl Detokenizer {
    /// Adds a token; returns the new complete text (possibly empty).
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> String {
        self.ids.push(id);
        let before = tok.decode(&self.ids[self.prefix..self.read]);
        let now = tok.decode(&self.ids[self.prefix..]);
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') && now.starts_with(&before) {
            let delta = now[before.len()..].to_string();
            self.prefix = self.read;
            self.read = self.ids.len();
            delta
        } else if !now.ends_with('\u{FFFD}') && !now.starts_with(&before) {
            // the tokenizer rewrote earlier text (rare): restart the window here
            self.prefix = self.ids.len() - 1;
            self.read = self.ids.len();
            now
        } else {
            String::new()
        }
    }
}
