//! What a fake server does for each generation request: the known truth that measured
//! numbers are checked against.

/// What the server does for each generation request.
#[derive(Debug, Clone)]
pub struct Script {
    /// Request received -> first token sent, ms.
    pub ttft_ms: u64,
    /// Gap between tokens, ms: the true decode rate is 1000 / itl_ms tokens/s.
    pub itl_ms: u64,
    pub tokens: u32,
    pub prompt_tokens: u32,
    /// OpenAI: send `{"role":"assistant","content":null}` at once, before the delay.
    pub role_first: bool,
    /// OpenAI: send `: keepalive` comments during the TTFT delay.
    pub keepalives: bool,
    /// OpenAI: put the role in every delta (mlx_lm.server does).
    pub role_every_delta: bool,
    /// OpenAI: final usage-only chunk with empty choices.
    pub usage_chunk: bool,
    /// OpenAI: llama.cpp `timings` in the usage chunk.
    pub timings: bool,
    /// End with the done marker (`[DONE]` / `done: true`).
    pub done_marker: bool,
    /// OpenAI: `\r\n` line endings.
    pub crlf: bool,
    /// Send each frame in two writes split mid-frame.
    pub split_frames: bool,
    /// Stop sending (cleanly end the body) after this many tokens.
    pub truncate_after: Option<u32>,
    /// Abort the connection after this many tokens.
    pub abort_after: Option<u32>,
    /// Go silent forever after this many tokens.
    pub stall_after: Option<u32>,
    /// Send a garbage frame after this many tokens.
    pub malformed_after: Option<u32>,
    /// Answer generation requests with this HTTP status and an error body.
    pub http_status: Option<u16>,
    /// Models the server has (Ollama tags / OpenAI model ids).
    pub models: Vec<String>,
    /// Serve this many generation requests; the next one breaks after two tokens and
    /// the server stops listening, as if it died.
    pub die_after_requests: Option<u32>,
    /// Require `Authorization: Bearer <key>` on OpenAI routes.
    pub require_key: Option<String>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            ttft_ms: 100,
            itl_ms: 20,
            tokens: 30,
            prompt_tokens: 12,
            role_first: true,
            keepalives: false,
            role_every_delta: false,
            usage_chunk: true,
            timings: false,
            done_marker: true,
            crlf: false,
            split_frames: false,
            truncate_after: None,
            abort_after: None,
            stall_after: None,
            malformed_after: None,
            http_status: None,
            models: vec!["fake-model".into(), "fake-model:latest".into()],
            die_after_requests: None,
            require_key: None,
        }
    }
}

impl Script {
    pub fn true_decode_tps(&self) -> f64 {
        1000.0 / self.itl_ms as f64
    }
}
