//! Model files opened and read with bounds. Only regular files are read: a FIFO, socket
//! or device among the model files would block the engine thread (and every request
//! queued behind it) or never end. Files are opened without blocking and checked on the
//! open descriptor, so nothing can be swapped in between; text files are refused above a
//! size before a byte is read.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result, io_err};

/// `config.json`, `tokenizer_config.json`, a weights index, a chat template.
pub const JSON_LIMIT: u64 = 16 << 20;
/// `tokenizer.json` (the largest vocabularies take tens of MB).
pub const TOKENIZER_LIMIT: u64 = 256 << 20;

/// Opens `path` for reading if it is a regular file (symbolic links followed).
pub fn open(path: &Path) -> Result<File> {
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(io_err(path))?;
    let meta = f.metadata().map_err(io_err(path))?;
    let t = meta.file_type();
    let what = if t.is_file() {
        return Ok(f);
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    };
    Err(file_err(path, format!("{what}, not a model file (only regular files are read)")))
}

/// Fails unless `path` is a regular file (for loaders that open the file themselves).
pub fn check(path: &Path) -> Result<()> {
    open(path).map(drop)
}

/// The whole of a file of at most `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let f = open(path)?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > limit {
        return Err(file_err(path, format!("{len} bytes, over the {} MiB such a file may have", limit >> 20)));
    }
    let mut buf = Vec::with_capacity(len as usize);
    // `take`: a file that grows while it is read stops at the limit all the same
    f.take(limit + 1).read_to_end(&mut buf).map_err(io_err(path))?;
    if buf.len() as u64 > limit {
        return Err(file_err(path, format!("over the {} MiB such a file may have", limit >> 20)));
    }
    Ok(buf)
}

/// A text file of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String> {
    String::from_utf8(read(path, limit)?).map_err(|_| file_err(path, "not UTF-8 text".into()))
}

fn file_err(path: &Path, what: String) -> Error {
    Error::File { path: path.to_path_buf(), what }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_folders_and_oversized_files_are_refused_at_once() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("model.safetensors");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = std::time::Instant::now();
        let e = read_text(&fifo, JSON_LIMIT).unwrap_err().to_string();
        assert!(e.contains("a FIFO, not a model file"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "a FIFO must not block");
        assert!(check(d.path()).unwrap_err().to_string().contains("a folder"));
        let big = d.path().join("config.json");
        std::fs::write(&big, vec![b' '; 2048]).unwrap();
        assert!(read_text(&big, 1024).unwrap_err().to_string().contains("2048 bytes, over the"));
        assert_eq!(read_text(&big, 4096).unwrap().len(), 2048);
    }
}
