//! Scenario and prompt files, read only when they are regular files and within a size:
//! a FIFO or `/dev/zero` given as either is refused, never waited on or read to the end.

use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// Largest scenario file read.
pub const MAX_SCENARIO_BYTES: u64 = 4 << 20;

/// Most prompt_file bytes read: a prompt, not a corpus.
pub const MAX_PROMPT_FILE_BYTES: u64 = 16 << 20;

/// A scenario file's text: opened without blocking, checked on the open descriptor.
pub fn read_scenario(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    if !f.metadata()?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file (a FIFO, device or folder)"));
    }
    let mut buf = Vec::new();
    f.take(MAX_SCENARIO_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(Error::new(ErrorKind::InvalidData, format!("over {} MiB: not a scenario", MAX_SCENARIO_BYTES >> 20)));
    }
    String::from_utf8(buf).map_err(|_| Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Reads a prompt file if it is a regular file of at most [`MAX_PROMPT_FILE_BYTES`]:
/// `/dev/zero`, a FIFO or a huge file are refused before anything is read.
pub fn read_prompt_file(p: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", p.display()));
    }
    if meta.len() > MAX_PROMPT_FILE_BYTES {
        return Err(format!("{} is {} bytes; prompt files may be at most {} MiB", p.display(), meta.len(), MAX_PROMPT_FILE_BYTES >> 20));
    }
    let f = std::fs::File::open(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    let mut text = String::new();
    f.take(MAX_PROMPT_FILE_BYTES + 1).read_to_string(&mut text).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    if text.len() as u64 > MAX_PROMPT_FILE_BYTES {
        return Err(format!("{} grew past {} MiB while being read", p.display(), MAX_PROMPT_FILE_BYTES >> 20));
    }
    if text.trim().is_empty() {
        return Err(format!("{} is empty", p.display()));
    }
    Ok(text)
}
