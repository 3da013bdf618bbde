//! A byte-level BPE tokenizer and a `tokenizer_config.json` equivalent, rebuilt from
//! GGUF metadata alone.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Gguf, Meta};
use crate::error::{Error, Result};

/// The tokenizer and a `tokenizer_config.json` equivalent, from GGUF metadata alone.
pub fn tokenizer_parts(g: &Gguf) -> Result<(tokenizers::Tokenizer, Value)> {
    let tokens: Vec<String> = g.tokens()?.iter().map(|t| t.as_str().unwrap_or("").to_string()).collect();
    let tokenizer = tokenizer_from(g, &tokens)?;
    let tok_name = |key: &str| g.get_i(key).and_then(|i| tokens.get(i as usize).cloned());
    let tokenizer_config = json!({
        "chat_template": g.meta.get("tokenizer.chat_template").and_then(Meta::as_str),
        "bos_token": tok_name("tokenizer.ggml.bos_token_id"),
        "eos_token": tok_name("tokenizer.ggml.eos_token_id"),
        "add_bos_token": matches!(g.meta.get("tokenizer.ggml.add_bos_token"), Some(Meta::Bool(true))),
        "tokenizer_class": "PreTrainedTokenizerFast",
    });
    Ok((tokenizer, tokenizer_config))
}

fn tokenizer_from(g: &Gguf, tokens: &[String]) -> Result<tokenizers::Tokenizer> {
    use tokenizers::models::bpe::BPE;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::pre_tokenizers::digits::Digits;
    use tokenizers::pre_tokenizers::sequence::Sequence;
    use tokenizers::{AddedToken, PreTokenizerWrapper};
    let model = g.meta.get("tokenizer.ggml.model").and_then(Meta::as_str).unwrap_or("");
    if model != "gpt2" {
        return Err(Error::Unsupported(format!("GGUF tokenizer model \"{model}\" is not supported (byte-level BPE \"gpt2\" only)")));
    }
    let merges: Vec<(String, String)> = match g.meta.get("tokenizer.ggml.merges") {
        Some(Meta::Arr(a)) => a.iter().filter_map(|m| m.as_str()?.split_once(' ').map(|(x, y)| (x.to_string(), y.to_string()))).collect(),
        _ => return Err(Error::Model("GGUF has no tokenizer.ggml.merges".into())),
    };
    let vocab: HashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let vocab: tokenizers::models::bpe::Vocab = vocab.into_iter().collect();
    let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| Error::Model(format!("GGUF tokenizer: {e}")))?;
    let mut tok = tokenizers::Tokenizer::new(bpe);
    let byte_level = ByteLevel::new(false, true, true);
    let pre = g.meta.get("tokenizer.ggml.pre").and_then(Meta::as_str).unwrap_or("gpt2");
    match pre {
        "smollm" => {
            tok.with_pre_tokenizer(Some(Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                PreTokenizerWrapper::ByteLevel(byte_level),
            ])));
        }
        "gpt2" | "default" => {
            tok.with_pre_tokenizer(Some(byte_level));
        }
        other => return Err(Error::Unsupported(format!("GGUF pre-tokenizer \"{other}\" is not supported (gpt2, smollm)"))),
    }
    tok.with_decoder(Some(ByteLevel::default()));
    let types: Vec<i64> = match g.meta.get("tokenizer.ggml.token_type") {
        Some(Meta::Arr(a)) => a.iter().map(|t| t.as_i64().unwrap_or(1)).collect(),
        _ => Vec::new(),
    };
    // control tokens (type 3) are atomic specials, as llama.cpp parses them
    let specials: Vec<AddedToken> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == 3)
        .filter_map(|(i, _)| tokens.get(i).map(|s| AddedToken::from(s.clone(), true)))
        .collect();
    tok.add_special_tokens(&specials);
    Ok(tok)
}
