//! The GGUF header: metadata and tensor table, read without the tensor data, and the
//! checks that keep a truncated or exotic file from ever reaching MLX's loader.

use crate::error::{Error, Result, io_err};
use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

fn bad(msg: impl Into<String>) -> Error {
    Error::Model(msg.into())
}

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
    pub(super) fn as_i64(&self) -> Option<i64> {
        match self {
            Meta::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub(super) fn as_f64(&self) -> Option<f64> {
        match self {
            Meta::Float(f) => Some(*f),
            Meta::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
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
    pub(super) path: PathBuf,
    data_start: u64,
    file_len: u64,
}

const TRUNCATED: &str = "GGUF: unexpected end of file (truncated?)";

/// The most of a file read as its header: real ones (a 256k-token vocabulary and its
/// merges) are tens of MiB.
pub const MAX_HEADER_BYTES: u64 = 256 << 20;
/// The most metadata entries and tensors a header may list (real models: hundreds to a
/// few thousand), checked before anything is kept for them.
const MAX_ENTRIES: u64 = 1 << 16;
/// The most elements of a metadata array that is kept ([`KEPT_ARRAYS`]): four times the
/// largest vocabulary's tokens plus merges.
const MAX_ARRAY: usize = 1 << 22;
/// The arrays the engine reads; every other array is checked and skipped, costing no
/// memory however long it is.
const KEPT_ARRAYS: [&str; 3] = ["tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"];

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    file_len: u64,
    /// When the buffer ran out: how many bytes of the file the header needs at least.
    need: u64,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let Some(end) = self.pos.checked_add(n).filter(|e| *e <= self.b.len()) else {
            let end = (self.pos as u64).saturating_add(n as u64);
            if end > self.file_len {
                // a length that runs past the file is known bad now: never read further
                return Err(Error::Model(format!(
                    "GGUF: a length of {n} bytes at byte {} runs past the end of the file (truncated?)",
                    self.pos
                )));
            }
            self.need = end;
            return Err(bad(TRUNCATED));
        };
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    /// Skips `count` values of type `t` (an array nobody reads) without keeping them.
    fn skip(&mut self, t: u32, count: u64, depth: u32) -> Result<()> {
        let fixed: Option<u64> = match t {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        };
        if let Some(size) = fixed {
            let n = count.checked_mul(size).and_then(|n| usize::try_from(n).ok()).ok_or_else(|| bad("GGUF: bad array length"))?;
            self.take(n)?;
            return Ok(());
        }
        for _ in 0..count {
            match t {
                8 => {
                    let n = usize::try_from(self.u64()?).map_err(|_| bad("GGUF: bad string length"))?;
                    self.take(n)?;
                }
                9 => {
                    if depth > 2 {
                        return Err(bad("GGUF: nested arrays too deep"));
                    }
                    let it = self.u32()?;
                    let n = self.u64()?;
                    self.skip(it, n, depth + 1)?;
                }
                other => return Err(Error::Model(format!("GGUF: unknown metadata type {other}"))),
            }
        }
        Ok(())
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| bad("GGUF: short read"))?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| bad("GGUF: short read"))?))
    }
    fn string(&mut self) -> Result<String> {
        let n = usize::try_from(self.u64()?).map_err(|_| bad("GGUF: bad string length"))?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    /// A metadata value; an array is kept only when `keep` (else checked and skipped).
    fn value(&mut self, t: u32, depth: u32, keep: bool) -> Result<Meta> {
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
                    return Err(bad("GGUF: nested arrays too deep"));
                }
                let it = self.u32()?;
                let count = self.u64()?;
                if count > self.file_len {
                    return Err(Error::Model(format!("GGUF: an array of {count} elements is longer than the file")));
                }
                if !keep {
                    self.skip(it, count, depth)?;
                    return Ok(Meta::Arr(Vec::new()));
                }
                let n = usize::try_from(count)
                    .ok()
                    .filter(|n| *n <= MAX_ARRAY)
                    .ok_or_else(|| Error::Model(format!("GGUF: an array of {count} elements (at most {MAX_ARRAY} are read)")))?;
                // grown as elements arrive: a count the bytes do not back costs nothing
                let mut v = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    v.push(self.value(it, depth + 1, true)?);
                }
                Meta::Arr(v)
            }
            10 => Meta::Int(i64::from_le_bytes(le(self.take(8)?))),
            11 => Meta::Int(i64::from_le_bytes(le(self.take(8)?))),
            12 => Meta::Float(f64::from_le_bytes(le(self.take(8)?))),
            other => return Err(Error::Model(format!("GGUF: unknown metadata type {other}"))),
        })
    }
}

pub(super) const F32: u32 = 0;
pub(super) const F16: u32 = 1;
const Q4_0: u32 = 2;
const Q4_1: u32 = 3;
const Q8_0: u32 = 8;
pub(super) const BF16: u32 = 30;

/// llama.cpp's name of a whole file's quantization mix (`general.file_type`), as Ollama
/// reports it (`Q4_K_M`): a mix holds several tensor types.
pub fn file_type_name(t: i64) -> Option<&'static str> {
    Some(match t {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        _ => return None,
    })
}

/// ggml's name of a tensor type (`Q4_1`, `F16`, ...).
pub fn type_name(t: u32) -> String {
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
    pub fn open(path: &Path) -> Result<Self> {
        let at = |e: Error| Error::Model(format!("{}: {e}", path.display()));
        let mut f = crate::files::open(path)?;
        let file_len = f.metadata().map_err(io_err(path))?.len();
        // the header holds the whole vocabulary: start with 16 MiB, grow to what it
        // says it needs, never past MAX_HEADER_BYTES
        let mut want: u64 = 16 << 20;
        loop {
            let n = want.min(file_len);
            let mut buf = vec![0u8; n as usize];
            f.rewind().and_then(|_| f.read_exact(&mut buf)).map_err(io_err(path))?;
            match Self::parse_inner(&buf, file_len) {
                Err((_, need)) if need > 0 && n < file_len => {
                    if need > MAX_HEADER_BYTES {
                        return Err(at(bad(format!(
                            "GGUF: the header would need {need} bytes (at most {MAX_HEADER_BYTES} are read): a bad length?"
                        ))));
                    }
                    want = need.max(want.saturating_mul(4)).min(MAX_HEADER_BYTES);
                }
                Ok(mut g) => {
                    g.path = path.to_path_buf();
                    return Ok(g);
                }
                Err((e, _)) => return Err(at(e)),
            }
        }
    }

    /// Parses a header from the first bytes of a file `file_len` bytes long.
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<Self> {
        Self::parse_inner(bytes, file_len).map_err(|(e, _)| e)
    }

    /// As [`parse`](Self::parse); a truncated buffer's error comes with the bytes needed.
    fn parse_inner(bytes: &[u8], file_len: u64) -> std::result::Result<Self, (Error, u64)> {
        let mut r = Reader { b: bytes, pos: 0, file_len, need: 0 };
        Self::read_header(&mut r, file_len).map_err(|e| (e, r.need))
    }

    fn read_header(r: &mut Reader<'_>, file_len: u64) -> Result<Self> {
        if r.take(4)? != b"GGUF" {
            return Err(bad("not a GGUF file (bad magic)"));
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Error::Model(format!("unsupported GGUF version {version}")));
        }
        let n_tensors = r.u64()?;
        let n_kv = r.u64()?;
        if n_tensors > MAX_ENTRIES || n_kv > MAX_ENTRIES {
            return Err(Error::Model(format!("GGUF: {n_tensors} tensors and {n_kv} metadata entries (at most {MAX_ENTRIES} each)")));
        }
        let mut meta = HashMap::new();
        for _ in 0..n_kv {
            let k = r.string()?;
            let t = r.u32()?;
            let keep = KEPT_ARRAYS.contains(&k.as_str());
            let v = r.value(t, 0, keep).map_err(|e| Error::Model(format!("metadata {k}: {e}")))?;
            meta.insert(k, v);
        }
        let mut tensors = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..n_tensors {
            let name = r.string()?;
            let nd = r.u32()?;
            if nd > 4 {
                return Err(Error::Model(format!("tensor {name}: {nd} dimensions")));
            }
            let dims = (0..nd).map(|_| r.u64()).collect::<Result<Vec<_>>>()?;
            if dims.contains(&0) {
                return Err(Error::Model(format!("tensor {name}: a dimension of size 0 ({dims:?})")));
            }
            if !seen.insert(name.clone()) {
                return Err(Error::Model(format!("tensor {name}: listed twice")));
            }
            let kind = r.u32()?;
            let offset = r.u64()?;
            tensors.push(TensorInfo { name, dims, kind, offset });
        }
        let align = meta.get("general.alignment").and_then(Meta::as_i64).unwrap_or(32).max(1) as u64;
        let data_start = (r.pos as u64).div_ceil(align) * align;
        Ok(Gguf { meta, tensors, path: PathBuf::new(), data_start, file_len })
    }

    pub fn get_i(&self, k: &str) -> Option<i64> {
        self.meta.get(k).and_then(Meta::as_i64)
    }

    /// The vocabulary, `tokenizer.ggml.tokens`, as stored.
    pub(super) fn tokens(&self) -> Result<&[Meta]> {
        match self.meta.get("tokenizer.ggml.tokens") {
            Some(Meta::Arr(a)) => Ok(a),
            _ => Err(bad("GGUF has no tokenizer.ggml.tokens")),
        }
    }

    /// Bytes of tensor data, or why the engine cannot read the tensor (its type, or a
    /// row that is not whole blocks).
    fn tensor_bytes(t: &TensorInfo) -> Result<u64> {
        let n = t
            .dims
            .iter()
            .try_fold(1u64, |a, d| a.checked_mul(*d))
            .ok_or_else(|| Error::Model(format!("tensor {}: absurd shape", t.name)))?;
        let cols = t.dims.first().copied().unwrap_or(1);
        match (t.kind, super::quants::Kind::of(t.kind)) {
            (F32, _) => Ok(n * 4),
            (F16 | BF16, _) => Ok(n * 2),
            (_, Some(q)) if cols % q.block_weights() != 0 => Err(Error::Model(format!(
                "tensor {}: {cols} columns is not a multiple of {} ({} blocks)",
                t.name,
                q.block_weights(),
                type_name(t.kind)
            ))),
            (_, Some(q)) => Ok(n / q.block_weights() * q.block_bytes()),
            (other, None) => Err(Error::Model(format!(
                "tensor {}: unsupported tensor type {} (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K are)",
                t.name,
                type_name(other)
            ))),
        }
    }

    /// Where a tensor's data lies in the file: (start, length), checked to lie inside it.
    pub(super) fn data_range(&self, t: &TensorInfo) -> Result<(u64, u64)> {
        let size = Self::tensor_bytes(t)?;
        let start = self.data_start.checked_add(t.offset);
        match start.and_then(|s| s.checked_add(size)) {
            Some(end) if end <= self.file_len => Ok((end - size, size)),
            _ => Err(Error::Model(format!("tensor {}: data past the end of the file (truncated?)", t.name))),
        }
    }

    /// Checks that every tensor has a type the engine reads and lies inside the file,
    /// before any tensor data is read.
    pub(super) fn check_tensors(&self) -> Result<()> {
        self.tensors.iter().try_for_each(|t| self.data_range(t).map(|_| ()))
    }
}

#[cfg(test)]
#[path = "header_tests.rs"]
mod tests;
