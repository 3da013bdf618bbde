//! Tokenizer (`tokenizer.json` through the `tokenizers` crate), chat templates from
//! `tokenizer_config.json` rendered with minijinja (+ Python string methods), and an
//! incremental detokenizer that never splits a multi-byte character and never emits a
//! special token's text.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result, tok_err};
use crate::template::{self, Template};

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    chat_template: Option<Template>,
    /// Why the chat template is not used (it went past a budget: template.rs).
    template_refused: Option<String>,
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
    pub fn load(dir: &Path, config_eos: &[u32]) -> Result<Self> {
        let tj = dir.join("tokenizer.json");
        let bytes = crate::files::read(&tj, crate::files::TOKENIZER_LIMIT)?;
        let inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(tok_err(tj.display()))?;
        drop(bytes);
        let cfg: Value = crate::files::read_text(&dir.join("tokenizer_config.json"), crate::files::JSON_LIMIT)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        // newer checkpoints keep the template in its own file
        let file_template = crate::files::read_text(&dir.join("chat_template.jinja"), crate::files::JSON_LIMIT).ok();
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
        let chat_template = chat_template.map(|source| Template { source, bos: bos.unwrap_or_default(), eos: eos.unwrap_or_default() });
        Tokenizer { inner, chat_template, template_refused: None, eos_ids }
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of a completion prompt (special tokens such as BOS added as the
    /// tokenizer's post-processor says).
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        self.inner.encode(text, special).map(|e| e.get_ids().to_vec()).map_err(tok_err("tokenizer"))
    }

    /// Renders the chat template with a generation prompt; `None` without a template.
    pub fn render_chat<M: serde::Serialize>(&self, messages: &[M]) -> Result<Option<String>> {
        self.render(messages, true)
    }

    fn render<M: serde::Serialize>(&self, messages: &[M], add_generation_prompt: bool) -> Result<Option<String>> {
        if let Some(why) = &self.template_refused {
            return Err(Error::Template(why.clone()));
        }
        let Some(t) = &self.chat_template else { return Ok(None) };
        t.render(messages, add_generation_prompt).map(Some)
    }

    /// Text of `ids` with special tokens (BOS, end of turn, other control tokens) as
    /// they are written in the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, false).unwrap_or_default()
    }

    /// Text of `ids` as a reader sees it: special tokens are markup, not text, so they
    /// decode to nothing (as Ollama and mlx-lm's server never send an end-of-turn token's
    /// text).
    pub fn decode_text(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_default()
    }

    /// The special tokens the chat template writes right after an assistant's message
    /// (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`...) in `probe`, the template's
    /// rendering of a user turn and then [`template::ANSWER`] as the assistant's: a model
    /// that writes one has ended its turn, whether or not the checkpoint lists it as an
    /// end-of-sequence token. Empty when the template writes no special token there.
    fn turn_end_ids(&self, probe: &str) -> Vec<u32> {
        let Some(at) = probe.find(template::ANSWER) else { return Vec::new() };
        let after = probe[at + template::ANSWER.len()..].trim_start();
        let mut specials: Vec<(u32, String)> = self
            .inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special && !t.content.is_empty())
            .map(|(id, t)| (id, t.content))
            .collect();
        // the longest first, so `<|end|>` never shadows `<|endoftext|>`
        specials.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        specials.into_iter().find(|(_, c)| after.starts_with(c.as_str())).map(|(id, _)| vec![id]).unwrap_or_default()
    }

    /// Gets the chat template ready, once per load and outside any timed load: checks it
    /// within its budgets (template.rs; a template past one is refused, and chat prompts
    /// then fail with the reason, which this returns) and stops generation at its end of
    /// turn too, as a chat server does. Returns the ids added to `eos_ids`, or the refusal.
    pub fn prepare_chat(&mut self) -> Result<Vec<u32>> {
        let Some(t) = &self.chat_template else { return Ok(Vec::new()) };
        let probe = match t.check() {
            Ok(p) => p,
            Err(why) => {
                self.chat_template = None;
                self.template_refused = Some(why.to_string());
                return Err(why);
            }
        };
        let ends = probe.map(|p| self.turn_end_ids(&p)).unwrap_or_default();
        let added: Vec<u32> = ends.into_iter().filter(|id| !self.eos_ids.contains(id)).collect();
        self.eos_ids.extend(&added);
        Ok(added)
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
        let before = tok.decode_text(&self.ids[self.prefix..self.read]);
        let now = tok.decode_text(&self.ids[self.prefix..]);
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    /// A word-level tokenizer with ChatML's special tokens, its eos `<|endoftext|>`.
    fn chatml() -> Tokenizer {
        let special = |id: u32, c: &str| serde_json::json!({"id": id, "content": c, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true});
        let json = serde_json::json!({
            "version": "1.0", "truncation": null, "padding": null,
            "added_tokens": [special(3, "<|endoftext|>"), special(4, "<|im_start|>"), special(5, "<|im_end|>")],
            "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
            "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "red": 1, "blue": 2, "<|endoftext|>": 3, "<|im_start|>": 4, "<|im_end|>": 5}, "unk_token": "<unk>"}
        });
        let inner: tokenizers::Tokenizer = json.to_string().parse().unwrap();
        let cfg = serde_json::json!({"chat_template": TEMPLATE, "eos_token": "<|endoftext|>"});
        Tokenizer::from_parts(inner, &cfg, None, &[])
    }

    #[test]
    fn special_tokens_are_not_text() {
        let t = chatml();
        assert_eq!(t.decode(&[1, 5]), "red <|im_end|>");
        assert_eq!(t.decode_text(&[1, 5]), "red");
        let mut d = Detokenizer::default();
        let pieces: Vec<String> = [4, 1, 2, 5, 3].iter().map(|&id| d.push(&t, id)).collect();
        assert_eq!(pieces.concat().trim(), "red blue", "{pieces:?}");
        assert!(pieces[0].is_empty() && pieces[3].is_empty() && pieces[4].is_empty(), "{pieces:?}");
    }

    #[test]
    fn the_templates_end_of_turn_is_found_and_stops_a_server() {
        let mut t = chatml();
        assert_eq!(t.eos_ids, [3]);
        assert_eq!(t.prepare_chat().unwrap(), [5]);
        assert_eq!(t.eos_ids, [3, 5]);
        // once is enough: asking again adds nothing
        assert!(t.prepare_chat().unwrap().is_empty());
        // no template, or one that writes no special token after the answer: nothing
        let mut plain = chatml();
        plain.chat_template = None;
        assert!(plain.prepare_chat().unwrap().is_empty());
        let mut plain = chatml();
        plain.chat_template.as_mut().unwrap().source = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}".into();
        assert!(plain.prepare_chat().unwrap().is_empty());
        // a template that never ends is refused, and chat prompts say why
        let mut endless = chatml();
        endless.chat_template.as_mut().unwrap().source =
            "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}".into();
        let why = endless.prepare_chat().unwrap_err().to_string();
        assert!(why.contains("template steps"), "{why}");
        let e = endless.render_chat(&[serde_json::json!({"role": "user", "content": "x"})]).unwrap_err();
        assert_eq!(e.to_string(), why);
    }
}
