//! The models this engine can be asked for by name: model directories (Hugging Face /
//! MLX layout) and `.gguf` files under given folders, and repo ids in the local Hugging
//! Face cache. Each is described from its files alone (config.json, safetensors headers,
//! the GGUF header), without loading weights, and says whether the engine runs it and, if
//! not, why. Names are Ollama-style `name:tag`, lower case, matched case-insensitively.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::config::ModelConfig;
use crate::gguf;

/// One model found on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// `name:tag`: a GGUF file's stem with its quantization suffix as the tag
    /// (`smollm2-135m-instruct:q4_1`), a directory's name or a repo id with `latest`.
    pub name: String,
    pub path: PathBuf,
    /// `mlx` (safetensors with MLX quantization), `safetensors` or `gguf`.
    pub format: &'static str,
    /// Where it was found: `folder` or `hf-cache`.
    pub source: &'static str,
    /// `model_type` of config.json, or GGUF's `general.architecture`.
    pub architecture: Option<String>,
    /// Parameter count from the tensor shapes (quantized tensors counted unpacked).
    pub parameters: Option<u64>,
    /// e.g. `Q4_1`, `4-bit (group 64)`, `BF16`.
    pub quantization: Option<String>,
    /// Bytes of every file of the model on disk.
    pub size_bytes: u64,
    /// Most recent modification of its files, seconds since the Unix epoch.
    pub modified_unix_s: Option<u64>,
    /// Positions the model can attend to, where its files say.
    pub context_length: Option<u64>,
    pub supported: bool,
    /// Why the engine cannot run it (only when `supported` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Entry {
    /// `135M`, `1.2B`: parameters as Ollama's `parameter_size` writes them.
    pub fn parameter_size(&self) -> Option<String> {
        let p = self.parameters? as f64;
        Some(if p >= 1e9 {
            format!("{:.1}B", p / 1e9)
        } else if p >= 1e6 {
            format!("{:.0}M", p / 1e6)
        } else {
            format!("{:.0}K", p / 1e3)
        })
    }

    /// The part before `:` (Ollama's model name without its tag).
    pub fn family(&self) -> &str {
        self.name.split(':').next().unwrap_or(&self.name)
    }
}

/// At most this many entries per scan: a models folder pointed at `/` ends, listed.
const MAX_ENTRIES: usize = 10_000;

/// Everything under `dirs` (each a model itself, or a folder of models up to two levels
/// deep), then the Hugging Face cache when `hub` is set. Unreadable entries are skipped;
/// unsupported ones are listed with their reason.
pub fn scan(dirs: &[PathBuf], hub: bool) -> Vec<Entry> {
    let mut out = Vec::new();
    for d in dirs {
        scan_dir(d, 0, &mut out);
    }
    if hub {
        for h in crate::hub::hub_dirs() {
            scan_hub(&h, &mut out);
        }
    }
    let mut taken = HashSet::new();
    for e in &mut out {
        let base = e.name.clone();
        let mut n = 2;
        while !taken.insert(e.name.clone()) {
            let (name, tag) = base.split_once(':').unwrap_or((&base, "latest"));
            e.name = format!("{name}-{n}:{tag}");
            n += 1;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The entry a request's model name means: exact name, or without `:latest`.
pub fn find<'a>(entries: &'a [Entry], name: &str) -> Option<&'a Entry> {
    let want = name.trim().to_lowercase();
    let full = if want.contains(':') { want.clone() } else { format!("{want}:latest") };
    entries.iter().find(|e| e.name == want || e.name == full)
}

fn scan_dir(d: &Path, depth: u32, out: &mut Vec<Entry>) {
    if out.len() >= MAX_ENTRIES {
        return;
    }
    if d.is_file() {
        if d.extension().is_some_and(|x| x.eq_ignore_ascii_case("gguf")) {
            out.push(describe_gguf(d));
        }
        return;
    }
    if d.join("config.json").is_file() {
        let name = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        out.push(describe_dir(d, &format!("{}:latest", clean(&name)), "folder"));
        return;
    }
    if depth >= 2 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(d) else { return };
    let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let hidden = p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden {
            scan_dir(&p, depth + 1, out);
        }
    }
}

fn scan_hub(hub: &Path, out: &mut Vec<Entry>) {
    let Ok(rd) = std::fs::read_dir(hub) else { return };
    let mut repos: Vec<String> = rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    repos.sort();
    for r in repos {
        let Some(id) = r.strip_prefix("models--").map(|s| s.replacen("--", "/", 1)) else { continue };
        if let Some(snap) = crate::hub::snapshot(&id, &mut Vec::new()) {
            out.push(describe_dir(&snap, &format!("{}:latest", clean(&id)), "hf-cache"));
        }
    }
}

/// Lower case; anything but letters, digits, `.`, `_`, `-` and `/` becomes `-`.
fn clean(s: &str) -> String {
    s.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || "._-/".contains(c) { c } else { '-' }).collect()
}

fn modified(m: &std::fs::Metadata) -> Option<u64> {
    m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
}

fn describe_gguf(p: &Path) -> Entry {
    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    // `Name.Q4_1` -> `name:q4_1`
    let name = match stem.rsplit_once('.') {
        Some((n, tag)) if !n.is_empty() && !tag.is_empty() => format!("{}:{}", clean(n), clean(tag).replace('/', "-")),
        _ => format!("{}:latest", clean(&stem)),
    };
    let meta = std::fs::metadata(p).ok();
    let mut e = Entry {
        name,
        path: p.to_path_buf(),
        format: "gguf",
        source: "folder",
        architecture: None,
        parameters: None,
        quantization: None,
        size_bytes: meta.as_ref().map_or(0, |m| m.len()),
        modified_unix_s: meta.as_ref().and_then(modified),
        context_length: None,
        supported: false,
        reason: None,
    };
    let g = match gguf::Gguf::open(p) {
        Ok(g) => g,
        Err(err) => {
            e.reason = Some(err.to_string());
            return e;
        }
    };
    let arch = g.meta.get("general.architecture").and_then(gguf::Meta::as_str).map(str::to_string);
    e.context_length = arch.as_ref().and_then(|a| g.get_i(&format!("{a}.context_length"))).and_then(|v| u64::try_from(v).ok());
    e.architecture = arch;
    e.parameters = g.tensors.iter().map(|t| t.dims.iter().try_fold(1u64, |a, d| a.checked_mul(*d))).sum::<Option<u64>>();
    // the type most of the weight matrices have
    let mut kinds: Vec<(usize, u32)> = Vec::new();
    for t in g.tensors.iter().filter(|t| t.dims.len() >= 2) {
        match kinds.iter_mut().find(|(_, k)| *k == t.kind) {
            Some(c) => c.0 += 1,
            None => kinds.push((1, t.kind)),
        }
    }
    // the file's mix as llama.cpp names it (Q4_K_M holds Q4_K, Q6_K and more), else the
    // type most of the weight matrices have
    e.quantization = g
        .get_i("general.file_type")
        .and_then(gguf::file_type_name)
        .map(str::to_string)
        .or_else(|| kinds.iter().max_by_key(|c| c.0).map(|c| gguf::type_name(c.1)));
    match gguf::check_supported(&g) {
        Ok(_) => e.supported = true,
        Err(err) => e.reason = Some(err.to_string()),
    }
    e
}

fn describe_dir(d: &Path, name: &str, source: &'static str) -> Entry {
    let files: Vec<(PathBuf, std::fs::Metadata)> = std::fs::read_dir(d)
        .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| Some((e.path(), std::fs::metadata(e.path()).ok()?))).collect())
        .unwrap_or_default();
    let size_bytes = files.iter().filter(|(_, m)| m.is_file()).map(|(_, m)| m.len()).sum();
    let modified_unix_s = files.iter().filter_map(|(_, m)| modified(m)).max();
    let text = crate::files::read_text(&d.join("config.json"), crate::files::JSON_LIMIT).unwrap_or_default();
    let raw: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let quant = raw.get("quantization").or_else(|| raw.get("quantization_config"));
    let bits = quant.and_then(|q| q.get("bits")).and_then(Value::as_u64);
    let mut shards: Vec<&PathBuf> = files.iter().map(|(p, _)| p).filter(|p| p.extension().is_some_and(|x| x == "safetensors")).collect();
    shards.sort();
    let (parameters, dtype) = count_safetensors(&shards, bits);
    let quantization = match (bits, quant.and_then(|q| q.get("group_size")).and_then(Value::as_u64)) {
        (Some(b), Some(g)) => Some(format!("{b}-bit (group {g})")),
        (Some(b), None) => Some(format!("{b}-bit")),
        _ => dtype.or_else(|| raw.get("torch_dtype").and_then(Value::as_str).map(|s| s.to_uppercase())),
    };
    let check = match ModelConfig::parse(&text) {
        Err(e) => Err(e.to_string()),
        Ok(_) if shards.is_empty() => Err("no *.safetensors weights in the directory".to_string()),
        Ok(_) => Ok(()),
    };
    Entry {
        name: name.to_string(),
        path: d.to_path_buf(),
        format: if bits.is_some() && quant.is_some_and(|q| q.get("quant_method").is_none()) { "mlx" } else { "safetensors" },
        source,
        architecture: raw.get("model_type").and_then(Value::as_str).map(str::to_string),
        parameters,
        quantization,
        size_bytes,
        modified_unix_s,
        context_length: raw.get("max_position_embeddings").and_then(Value::as_u64),
        supported: check.is_ok(),
        reason: check.err(),
    }
}

/// Parameters of safetensors shards (packed quantized words counted as `32 / bits`
/// parameters, scales and biases not at all) and the most common dtype of the rest.
fn count_safetensors(shards: &[&PathBuf], bits: Option<u64>) -> (Option<u64>, Option<String>) {
    let mut total = 0u64;
    let mut dtypes: Vec<(u64, String)> = Vec::new();
    for s in shards {
        let Some(header) = read_header(s) else { return (None, None) };
        let Some(map) = header.as_object() else { return (None, None) };
        for (name, t) in map.iter().filter(|(n, _)| *n != "__metadata__") {
            let numel: u64 = t.get("shape").and_then(Value::as_array).map_or(0, |s| s.iter().filter_map(Value::as_u64).product());
            let dtype = t.get("dtype").and_then(Value::as_str).unwrap_or("?");
            let stem = name.strip_suffix(".weight");
            let packed = dtype == "U32" && stem.is_some_and(|s| map.contains_key(&format!("{s}.scales")));
            if name.ends_with(".scales") || (name.ends_with(".biases") && map.contains_key(&name.replace(".biases", ".scales"))) {
                continue;
            }
            total = total.saturating_add(match (packed, bits) {
                (true, Some(b)) if b > 0 && b <= 32 => numel.saturating_mul(32) / b,
                _ => numel,
            });
            if !packed {
                match dtypes.iter_mut().find(|(_, d)| d == dtype) {
                    Some(c) => c.0 += numel,
                    None => dtypes.push((numel, dtype.to_string())),
                }
            }
        }
    }
    let dtype = dtypes.into_iter().max_by_key(|c| c.0).map(|c| c.1);
    (Some(total), dtype)
}

/// A safetensors file's JSON header (8-byte little-endian length, then JSON), at most 64 MiB.
fn read_header(p: &Path) -> Option<Value> {
    let mut f = crate::files::open(p).ok()?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let n = u64::from_le_bytes(len);
    if n > 64 << 20 {
        return None;
    }
    let mut buf = vec![0u8; n as usize];
    f.read_exact(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safetensors(p: &Path, header: Value) {
        let h = header.to_string();
        let mut b = (h.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(h.as_bytes());
        std::fs::write(p, b).unwrap();
    }

    #[test]
    fn lists_dirs_and_ggufs_with_names_sizes_and_reasons() {
        let root = tempfile::tempdir().unwrap();
        let m = root.path().join("Tiny Llama");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(
            m.join("config.json"),
            r#"{"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":128,"vocab_size":100,
                "max_position_embeddings":256,"quantization":{"group_size":32,"bits":4}}"#,
        )
        .unwrap();
        safetensors(
            &m.join("model.safetensors"),
            serde_json::json!({
                "__metadata__": {"format": "mlx"},
                "a.weight": {"dtype": "U32", "shape": [64, 8], "data_offsets": [0, 0]},
                "a.scales": {"dtype": "F16", "shape": [64, 2], "data_offsets": [0, 0]},
                "a.biases": {"dtype": "F16", "shape": [64, 2], "data_offsets": [0, 0]},
                "norm.weight": {"dtype": "F16", "shape": [64], "data_offsets": [0, 0]},
            }),
        );
        let other = root.path().join("nested/mamba");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("config.json"), r#"{"model_type":"mamba"}"#).unwrap();
        std::fs::write(root.path().join("Broken.Q4_K.gguf"), b"GGUF\x03\x00").unwrap();
        let list = scan(&[root.path().to_path_buf()], false);
        let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["broken:q4_k", "mamba:latest", "tiny-llama:latest"]);
        let t = find(&list, "Tiny-Llama").unwrap();
        assert!(t.supported, "{:?}", t.reason);
        assert_eq!((t.format, t.parameters, t.quantization.as_deref()), ("mlx", Some(64 * 8 * 8 + 64), Some("4-bit (group 32)")));
        assert_eq!((t.context_length, t.architecture.as_deref()), (Some(256), Some("llama")));
        assert!(t.size_bytes > 0);
        let mamba = find(&list, "mamba:latest").unwrap();
        assert!(!mamba.supported && mamba.reason.as_deref().unwrap().contains("unsupported architecture \"mamba\""), "{:?}", mamba.reason);
        let broken = find(&list, "broken:q4_k").unwrap();
        assert!(!broken.supported && broken.reason.as_deref().unwrap().contains("truncated"), "{:?}", broken.reason);
        assert!(find(&list, "tiny-llama:other").is_none());
    }
}
