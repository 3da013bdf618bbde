//! GGUF files as MLX models. Tensors are read by MLX's own GGUF loader (`mlx_load_gguf`):
//! F32 and F16 as they are, BF16 as float16, and Q4_0, Q4_1 and Q8_0 blocks as MLX
//! affine-quantized weights (group size 32, float16 scales and biases). Around it: a
//! header and metadata parser of our own (for the config and the tokenizer, and to check
//! tensor types and sizes before MLX maps the file, so that a truncated or exotic file is
//! a clear error), llama.cpp's q/k row permutation undone, and a tokenizer rebuilt from
//! the GGUF vocabulary and merges. Only the `llama` architecture (Llama, SmolLM,
//! TinyLlama, Mistral) is read from GGUF.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use mlx_rs::Array;
use serde_json::{Value, json};

/// A metadata value.
#[derive(Debug, Clone)]
pub enum Meta {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Arr(Vec<Meta>),
}

impl Meta {
    fn as_i64(&self) -> Option<i64> {
        match self {
            Meta::Int(i) => Some(*i),
            _ => None,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            Meta::Float(f) => Some(*f),
            Meta::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Meta::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// One tensor's description.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// GGUF order: `dims[0]` is the innermost (contiguous) dimension.
    pub dims: Vec<u64>,
    pub kind: u32,
    pub offset: u64,
}

/// A parsed GGUF header; the tensor data stays in the file.
pub struct Gguf {
    pub meta: HashMap<String, Meta>,
    pub tensors: Vec<TensorInfo>,
    path: PathBuf,
    data_start: u64,
    file_len: u64,
}

const TRUNCATED: &str = "GGUF: unexpected end of file (truncated?)";

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len()).ok_or(TRUNCATED)?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| "GGUF: short read")?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| "GGUF: short read")?))
    }
    fn string(&mut self) -> Result<String, String> {
        let n = usize::try_from(self.u64()?).map_err(|_| "GGUF: bad string length")?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    fn value(&mut self, t: u32, depth: u32) -> Result<Meta, String> {
        let le = |s: &[u8]| -> [u8; 8] {
            let mut a = [0u8; 8];
            a[..s.len()].copy_from_slice(s);
            a
        };
        Ok(match t {
            0 => Meta::Int(i64::from(self.take(1)?[0])),
            1 => Meta::Int(i64::from(self.take(1)?[0] as i8)),
            2 => Meta::Int(i64::from(u16::from_le_bytes([self.take(1)?[0], self.take(1)?[0]]))),
            3 => Meta::Int(i64::from(i16::from_le_bytes([self.take(1)?[0], self.take(1)?[0]]))),
            4 => Meta::Int(i64::from(self.u32()?)),
            5 => Meta::Int(i64::from(self.u32()? as i32)),
            6 => Meta::Float(f64::from(f32::from_bits(self.u32()?))),
            7 => Meta::Bool(self.take(1)?[0] != 0),
            8 => Meta::Str(self.string()?),
            9 => {
                if depth > 2 {
                    return Err("GGUF: nested arrays too deep".into());
                }
                let it = self.u32()?;
                let n = usize::try_from(self.u64()?).map_err(|_| "GGUF: bad array length")?;
                if n > self.b.len() {
                    return Err("GGUF: array longer than the file".into());
                }
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.value(it, depth + 1)?);
                }
                Meta::Arr(v)
            }
            10 => Meta::Int(i64::from_le_bytes(le(self.take(8)?))),
            11 => Meta::Int(i64::from_le_bytes(le(self.take(8)?))),
            12 => Meta::Float(f64::from_le_bytes(le(self.take(8)?))),
            other => return Err(format!("GGUF: unknown metadata type {other}")),
        })
    }
}

const F32: u32 = 0;
const F16: u32 = 1;
const Q4_0: u32 = 2;
const Q4_1: u32 = 3;
const Q8_0: u32 = 8;
const BF16: u32 = 30;

fn type_name(t: u32) -> String {
    match t {
        F32 => "F32".into(),
        F16 => "F16".into(),
        Q4_0 => "Q4_0".into(),
        Q4_1 => "Q4_1".into(),
        Q8_0 => "Q8_0".into(),
        BF16 => "BF16".into(),
        6 => "Q5_0".into(),
        7 => "Q5_1".into(),
        10 => "Q2_K".into(),
        11 => "Q3_K".into(),
        12 => "Q4_K".into(),
        13 => "Q5_K".into(),
        14 => "Q6_K".into(),
        15 => "Q8_K".into(),
        other => format!("ggml type {other}"),
    }
}

impl Gguf {
    /// Reads the header (metadata and tensor table) without reading the tensor data.
    pub fn open(path: &Path) -> Result<Self, String> {
        let at = |e: String| format!("{}: {e}", path.display());
        let mut f = std::fs::File::open(path).map_err(|e| at(e.to_string()))?;
        let file_len = f.metadata().map_err(|e| at(e.to_string()))?.len();
        // the header holds the whole vocabulary: start with 16 MiB, grow if it is longer
        let mut want: u64 = 16 << 20;
        loop {
            let n = want.min(file_len);
            let mut buf = vec![0u8; n as usize];
            f.rewind().and_then(|_| f.read_exact(&mut buf)).map_err(|e| at(e.to_string()))?;
            match Self::parse(&buf, file_len) {
                Err(e) if e == TRUNCATED && n < file_len => want = want.saturating_mul(4),
                Ok(mut g) => {
                    g.path = path.to_path_buf();
                    return Ok(g);
                }
                Err(e) => return Err(at(e)),
            }
        }
    }

    /// Parses a header from the first bytes of a file `file_len` bytes long.
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<Self, String> {
        let mut r = Reader { b: bytes, pos: 0 };
        if r.take(4)? != b"GGUF" {
            return Err("not a GGUF file (bad magic)".into());
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(format!("unsupported GGUF version {version}"));
        }
        let n_tensors = r.u64()?;
        let n_kv = r.u64()?;
        let mut meta = HashMap::new();
        for _ in 0..n_kv {
            let k = r.string()?;
            let t = r.u32()?;
            meta.insert(k, r.value(t, 0)?);
        }
        let mut tensors = Vec::new();
        for _ in 0..n_tensors {
            let name = r.string()?;
            let nd = r.u32()?;
            if nd > 4 {
                return Err(format!("tensor {name}: {nd} dimensions"));
            }
            let dims = (0..nd).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
            let kind = r.u32()?;
            let offset = r.u64()?;
            tensors.push(TensorInfo { name, dims, kind, offset });
        }
        let align = meta.get("general.alignment").and_then(Meta::as_i64).unwrap_or(32).max(1) as u64;
        let data_start = (r.pos as u64).div_ceil(align) * align;
        Ok(Gguf { meta, tensors, path: PathBuf::new(), data_start, file_len })
    }

    fn get_i(&self, k: &str) -> Option<i64> {
        self.meta.get(k).and_then(Meta::as_i64)
    }

    /// Checks that every tensor has a type MLX's loader reads exactly and lies inside the
    /// file (MLX maps the file: data past its end must never reach it).
    fn check_tensors(&self) -> Result<(), String> {
        for t in &self.tensors {
            let n = t.dims.iter().try_fold(1u64, |a, d| a.checked_mul(*d)).ok_or_else(|| format!("tensor {}: absurd shape", t.name))?;
            let cols = t.dims.first().copied().unwrap_or(1);
            let size = match t.kind {
                F32 => n * 4,
                F16 | BF16 => n * 2,
                Q4_0 | Q4_1 | Q8_0 if cols % 32 != 0 => {
                    return Err(format!("tensor {}: {cols} columns is not a multiple of 32", t.name));
                }
                Q4_0 => n / 32 * 18,
                Q4_1 => n / 32 * 20,
                Q8_0 => n / 32 * 34,
                other => return Err(format!("tensor {}: unsupported tensor type {} (F32, F16, BF16, Q4_0, Q4_1, Q8_0 are)", t.name, type_name(other))),
            };
            let end = self.data_start.checked_add(t.offset).and_then(|s| s.checked_add(size));
            if end.is_none_or(|e| e > self.file_len) {
                return Err(format!("tensor {}: data past the end of the file (truncated?)", t.name));
            }
        }
        Ok(())
    }
}

/// MLX's GGUF loader through mlx-c (mlx-rs does not wrap it).
mod mlx_loader {
    use std::collections::HashMap;
    use std::ffi::{CStr, CString};
    use std::path::Path;

    use mlx_rs::{Array, Stream};

    struct Io(mlx_sys::mlx_io_gguf);
    impl Drop for Io {
        fn drop(&mut self) {
            // SAFETY: the handle came from mlx_io_gguf_new and is freed once
            unsafe { mlx_sys::mlx_io_gguf_free(self.0) };
        }
    }
    struct Keys(mlx_sys::mlx_vector_string);
    impl Drop for Keys {
        fn drop(&mut self) {
            // SAFETY: as above
            unsafe { mlx_sys::mlx_vector_string_free(self.0) };
        }
    }

    /// Every tensor of the file as MLX reads it (`X.weight`, and `X.scales`/`X.biases`
    /// for quantized ones), by GGUF name. The caller has checked types and sizes.
    pub fn load(path: &Path) -> Result<HashMap<String, Array>, String> {
        let failed = |what: &str| {
            // MLX left its message with mlx-rs's error handler; drain it so a later error
            // is reported as itself (a deliberately invalid reshape fails and takes it)
            let _ = Array::from_int(0).reshape(&[2]);
            format!("{}: MLX's GGUF loader failed ({what})", path.display())
        };
        // any fallible mlx-rs call installs mlx-rs's error handler (MLX's default exits)
        let stream = Stream::cpu();
        Array::from_int(0).reshape(&[1]).map_err(|e| e.to_string())?;
        let cpath = CString::new(path.to_string_lossy().as_bytes()).map_err(|_| "path contains a NUL byte".to_string())?;
        // SAFETY: plain mlx-c calls on handles owned by the guards above; strings returned
        // by mlx_vector_string_get stay valid while `keys` lives and are copied at once
        unsafe {
            let mut io = Io(mlx_sys::mlx_io_gguf_new());
            if mlx_sys::mlx_load_gguf(&mut io.0, cpath.as_ptr(), stream.as_ptr()) != 0 {
                return Err(failed("load"));
            }
            let mut keys = Keys(mlx_sys::mlx_vector_string_new());
            if mlx_sys::mlx_io_gguf_get_keys(&mut keys.0, io.0) != 0 {
                return Err(failed("keys"));
            }
            let n = mlx_sys::mlx_vector_string_size(keys.0);
            let mut out = HashMap::with_capacity(n);
            for i in 0..n {
                let mut key: *mut std::os::raw::c_char = std::ptr::null_mut();
                if mlx_sys::mlx_vector_string_get(&mut key, keys.0, i) != 0 || key.is_null() {
                    return Err(failed("key"));
                }
                let name = CStr::from_ptr(key).to_string_lossy().into_owned();
                let mut arr = mlx_sys::mlx_array_new();
                if mlx_sys::mlx_io_gguf_get_array(&mut arr, io.0, key) != 0 {
                    mlx_sys::mlx_array_free(arr);
                    return Err(failed(&name));
                }
                out.insert(name, Array::from_ptr(arr));
            }
            Ok(out)
        }
    }
}

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

pub fn convert_gguf(g: &Gguf) -> Result<Converted, String> {
    let at = g.path.display().to_string();
    convert_parts(g).map_err(|e| if e.starts_with(&at) { e } else { format!("{at}: {e}") })
}

fn convert_parts(g: &Gguf) -> Result<Converted, String> {
    let arch = g.meta.get("general.architecture").and_then(Meta::as_str).unwrap_or("");
    if arch != "llama" {
        return Err(format!("GGUF architecture \"{arch}\" is not supported (only llama-family GGUF files)"));
    }
    let k = |s: &str| format!("llama.{s}");
    let need = |s: &str| g.get_i(&k(s)).ok_or_else(|| format!("GGUF metadata llama.{s} is missing"));
    let hidden = need("embedding_length")?;
    let heads = need("attention.head_count")?;
    let kv = g.get_i(&k("attention.head_count_kv")).unwrap_or(heads);
    let layers = need("block_count")?;
    let tokens: Vec<String> = match g.meta.get("tokenizer.ggml.tokens") {
        Some(Meta::Arr(a)) => a.iter().map(|t| t.as_str().unwrap_or("").to_string()).collect(),
        _ => return Err("GGUF has no tokenizer.ggml.tokens".into()),
    };
    let (tokenizer, tokenizer_config) = tokenizer_parts(g)?;
    g.check_tensors()?;
    let mut loaded = mlx_loader::load(&g.path)?;
    let mut weights = HashMap::new();
    let mut quant: serde_json::Map<String, Value> = serde_json::Map::new();
    for t in &g.tensors {
        let name = hf_name(&t.name).ok_or_else(|| format!("unexpected GGUF tensor {}", t.name))?;
        let (stem, base) = (t.name.rsplit_once('.').map_or(t.name.as_str(), |s| s.0), name.rsplit_once('.').map_or(name.as_str(), |s| s.0));
        let heads_here = if t.name.ends_with("attn_q.weight") {
            Some(heads)
        } else if t.name.ends_with("attn_k.weight") {
            Some(kv)
        } else {
            None
        };
        let order = heads_here.map(|h| {
            let rows: usize = t.dims[1..].iter().product::<u64>() as usize;
            let o: Vec<i32> = unpermute(rows, h as usize).into_iter().map(|r| r as i32).collect();
            Array::from_slice(&o, &[rows as i32])
        });
        let quantized = matches!(t.kind, Q4_0 | Q4_1 | Q8_0);
        let parts: &[&str] = if quantized { &["weight", "scales", "biases"] } else { &["weight"] };
        for part in parts {
            let a = loaded.remove(&format!("{stem}.{part}")).ok_or_else(|| format!("MLX's GGUF loader gave no {stem}.{part}"))?;
            // rows are whole rows in every part (packed words, scales, biases alike)
            let a = match &order {
                Some(o) => a.take_axis(o, 0).map_err(super::model::mlx_err)?,
                None => a,
            };
            weights.insert(format!("{base}.{part}"), a);
        }
        if quantized {
            quant.insert(base.to_string(), json!({"group_size": 32, "bits": if t.kind == Q8_0 { 8 } else { 4 }}));
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
        "vocab_size": g.get_i(&k("vocab_size")).unwrap_or(tokens.len() as i64),
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

/// The tokenizer and a `tokenizer_config.json` equivalent, from GGUF metadata alone.
pub fn tokenizer_parts(g: &Gguf) -> Result<(tokenizers::Tokenizer, Value), String> {
    let tokens: Vec<String> = match g.meta.get("tokenizer.ggml.tokens") {
        Some(Meta::Arr(a)) => a.iter().map(|t| t.as_str().unwrap_or("").to_string()).collect(),
        _ => return Err("GGUF has no tokenizer.ggml.tokens".into()),
    };
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

fn tokenizer_from(g: &Gguf, tokens: &[String]) -> Result<tokenizers::Tokenizer, String> {
    use tokenizers::models::bpe::BPE;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::pre_tokenizers::digits::Digits;
    use tokenizers::pre_tokenizers::sequence::Sequence;
    use tokenizers::{AddedToken, PreTokenizerWrapper};
    let model = g.meta.get("tokenizer.ggml.model").and_then(Meta::as_str).unwrap_or("");
    if model != "gpt2" {
        return Err(format!("GGUF tokenizer model \"{model}\" is not supported (byte-level BPE \"gpt2\" only)"));
    }
    let merges: Vec<(String, String)> = match g.meta.get("tokenizer.ggml.merges") {
        Some(Meta::Arr(a)) => a.iter().filter_map(|m| m.as_str()?.split_once(' ').map(|(x, y)| (x.to_string(), y.to_string()))).collect(),
        _ => return Err("GGUF has no tokenizer.ggml.merges".into()),
    };
    let vocab: HashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let vocab: tokenizers::models::bpe::Vocab = vocab.into_iter().collect();
    let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| format!("tokenizer: {e}"))?;
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
        other => return Err(format!("GGUF pre-tokenizer \"{other}\" is not supported (gpt2, smollm)")),
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

/// Writes a converted model in Hugging Face / MLX layout.
pub fn write_dir(c: &Converted, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let w = |name: &str, v: &Value| {
        let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
        std::fs::write(out.join(name), text).map_err(|e| format!("{}: {e}", out.join(name).display()))
    };
    w("config.json", &c.config)?;
    w("tokenizer_config.json", &c.tokenizer_config)?;
    c.tokenizer.save(out.join("tokenizer.json"), false).map_err(|e| format!("tokenizer.json: {e}"))?;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "mlx".to_string());
    Array::save_safetensors(c.weights.iter().map(|(k, v)| (k.as_str(), v)), &meta, out.join("model.safetensors"))
        .map_err(|e| format!("model.safetensors: {e}"))
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

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(Gguf::parse(b"nope", 4).is_err_and(|e| e.contains("bad magic")));
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        assert!(Gguf::parse(&b, b.len() as u64).is_err_and(|e| e.contains("truncated")));
    }
}
