//! The HTTP routes mlxbench speaks both as a client (backend/ollama.rs, backend/openai.rs)
//! and as a server (`serve`), named once so the two cannot drift apart.

/// Ollama's API, from the server's root.
pub mod ollama {
    pub const VERSION: &str = "/api/version";
    pub const GENERATE: &str = "/api/generate";
    pub const CHAT: &str = "/api/chat";
    pub const TAGS: &str = "/api/tags";
    pub const PS: &str = "/api/ps";
    pub const SHOW: &str = "/api/show";
    pub const PULL: &str = "/api/pull";
}

/// The OpenAI API, from its root: a client's `base_url` (e.g. `http://host:8080/v1`), the
/// server's [`ROOT`](openai::ROOT).
pub mod openai {
    /// Where `serve` puts the API.
    pub const ROOT: &str = "/v1";
    pub const MODELS: &str = "/models";
    pub const CHAT: &str = "/chat/completions";
    pub const COMPLETIONS: &str = "/completions";
}
