//! What can go wrong inside the engine, each kind with what it knows (the path, the
//! library's own error as `source`). The harness sees these as [`crate::EngineError`]
//! through one conversion (`From<Error> for EngineError` in lib.rs). Each displays as one
//! line; the messages name the file, tensor or setting concerned.

use std::path::{Path, PathBuf};

/// An engine failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not what a model file must be (a FIFO, a folder, too large, not UTF-8).
    #[error("{}: {what}", path.display())]
    File { path: PathBuf, what: String },
    /// A JSON file (config, weights index, tokenizer config) does not parse.
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// The model's files are malformed or disagree with each other (a GGUF header, a
    /// tensor's shape against config.json).
    #[error("{0}")]
    Model(String),
    /// Well-formed, but of a kind the engine does not run (an architecture, a tensor or
    /// quantization type).
    #[error("{0}")]
    Unsupported(String),
    /// No model by that name where the engine looks.
    #[error("{0}")]
    NotFound(String),
    /// The tokenizer library failed.
    #[error("{what}: {source}")]
    Tokenizer {
        what: String,
        #[source]
        source: tokenizers::Error,
    },
    /// A tokenizer lacks what it needs, or the chat template failed or broke a budget.
    #[error("{0}")]
    Template(String),
    /// MLX failed while computing.
    #[error("mlx: {0}")]
    Mlx(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A call into MLX's C API without an error value failed.
    #[error("{0}")]
    MlxCall(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// MLX's error, kept as the source.
pub fn mlx_err(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Mlx(Box::new(e))
}

/// `source` reading `path`.
pub fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// A JSON parse failure of `what` (a file name).
pub fn json_err(what: impl std::fmt::Display) -> impl FnOnce(serde_json::Error) -> Error {
    move |source| Error::Json { what: what.to_string(), source }
}

/// The tokenizer library's failure while doing `what`.
pub fn tok_err(what: impl std::fmt::Display) -> impl FnOnce(tokenizers::Error) -> Error {
    move |source| Error::Tokenizer { what: what.to_string(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_kept_and_messages_name_the_file() {
        let e = io_err(Path::new("/m/config.json"))(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(e.to_string().starts_with("/m/config.json: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        let j = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let e = json_err("config.json")(j);
        assert!(e.to_string().starts_with("config.json: EOF"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
