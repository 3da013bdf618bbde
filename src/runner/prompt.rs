//! Prompts as sent. With `prompt_cache = "cold"` (the default) every request starts with
//! a short prefix no earlier request of this process (nor, with overwhelming likelihood,
//! of any other run) started with, so no server can answer from a cached prompt: Ollama
//! always reuses the KV cache of a repeated prompt, llama.cpp unless `cache_prompt` is
//! off, mlx_lm.server too. The prefix (`[1a2b3c4d] `, a few tokens) is part of the
//! prompt, and of the prompt tokens the server reports.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::scenario::{Prompt, PromptCache};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where this process's prefixes start: seeded by the clock and the process id, so two
/// runs against one long-lived server do not repeat prefixes.
fn start() -> u32 {
    static START: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        mix(t ^ (u64::from(std::process::id()) << 32)) as u32
    })
}

/// splitmix64: distinct inputs give well-spread outputs.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A bijection on 32-bit values that spreads neighbours apart: each step (an xor with a
/// right shift of itself, a product with an odd number) can be undone, so distinct inputs
/// always give distinct outputs.
fn spread32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// The `n`th prefix of a process whose sequence begins at `start`, scrambled by
/// `spread32`, so a process's first 2^32 prefixes are all different (truncating a 64-bit
/// hash to 32 bits would repeat one within 10,000 requests about once in a hundred runs).
fn prefix_number(start: u32, n: u64) -> u32 {
    spread32(start.wrapping_add(n as u32))
}

/// The next unique prefix.
pub fn unique_prefix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("[{:08x}] ", prefix_number(start(), n))
}

/// What one request sends: the workload's prompt, prefixed unless caching is wanted.
pub fn for_request(prompt: &Prompt, cache: Option<PromptCache>) -> Prompt {
    match cache {
        Some(PromptCache::Warm) => prompt.clone(),
        Some(PromptCache::Cold) | None => with_prefix(prompt, &unique_prefix()),
    }
}

/// Puts `prefix` at the very start: of the text, or of the first chat message (a system
/// message when there is one), so the prompt differs from its first tokens on.
fn with_prefix(prompt: &Prompt, prefix: &str) -> Prompt {
    match prompt {
        Prompt::Text(t) => Prompt::Text(format!("{prefix}{t}")),
        Prompt::Chat(messages) => {
            let mut m = messages.clone();
            if let Some(first) = m.first_mut() {
                first.content = format!("{prefix}{}", first.content);
            }
            Prompt::Chat(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ChatMessage;

    #[test]
    fn cold_prompts_never_share_a_start_and_warm_ones_are_identical() {
        let p = Prompt::Text("the cat sat".into());
        let a = for_request(&p, Some(PromptCache::Cold));
        let b = for_request(&p, None);
        let (Prompt::Text(a), Prompt::Text(b)) = (a, b) else { panic!() };
        assert!(a.ends_with("] the cat sat") && b.ends_with("] the cat sat"));
        assert_ne!(a[..10], b[..10]);
        assert_eq!(for_request(&p, Some(PromptCache::Warm)), p);
        let prefixes: std::collections::HashSet<String> = (0..10_000).map(|_| unique_prefix()).collect();
        assert_eq!(prefixes.len(), 10_000);
        // by construction, not by luck: a million requests of one start never repeat a
        // prefix (a 32-bit hash of each would repeat about a hundred times), and
        // neighbouring requests differ in most digits
        for start in [0, 42, u32::MAX] {
            let numbers: std::collections::HashSet<u32> = (0..1_000_000).map(|n| prefix_number(start, n)).collect();
            assert_eq!(numbers.len(), 1_000_000);
            let (a, b) = (prefix_number(start, 7), prefix_number(start, 8));
            assert!((a ^ b).count_ones() >= 8, "{a:08x} {b:08x}");
        }
        let chat = Prompt::Chat(vec![
            ChatMessage { role: "system".into(), content: "be brief".into() },
            ChatMessage { role: "user".into(), content: "hi".into() },
        ]);
        let Prompt::Chat(m) = for_request(&chat, None) else { panic!() };
        assert!(m[0].content.starts_with('[') && m[0].content.ends_with("] be brief") && m[1].content == "hi");
    }
}
