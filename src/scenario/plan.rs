//! Expansion of a validated scenario into a [`Plan`]: resolved targets, workloads with
//! their prompts, and one [`Case`] per target x workload x sweep point.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::schema::ScenarioSpec;
use super::target::{self, Target};

/// Everything a run needs, independent of the CLI and of TOML.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    /// Folder that `launch` commands run in and `prompt_file`s are read from.
    pub base_dir: PathBuf,
    pub source_sha256: String,
    pub spec: ScenarioSpec,
    pub targets: Vec<Target>,
    pub cases: Vec<Case>,
}

/// The backends a target may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// In-process MLX (the `mlxbench-engine` crate).
    Mlx,
    /// Ollama's native HTTP API.
    Ollama,
    /// Any OpenAI-compatible HTTP server.
    Openai,
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [BackendKind::Mlx, BackendKind::Ollama, BackendKind::Openai];

    /// The name scenarios and result files use.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Mlx => "mlx",
            BackendKind::Ollama => "ollama",
            BackendKind::Openai => "openai",
        }
    }

    pub fn from_name(name: &str) -> Option<BackendKind> {
        BackendKind::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which API shape a workload uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// Completion: one prompt text.
    Completion,
    /// Chat: a list of role/content messages.
    Chat,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// What is sent: completion text or chat messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Text(String),
    Chat(Vec<ChatMessage>),
}

/// A workload with its prompt resolved for one sweep point.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub prompt: Prompt,
}

/// Whether a server may answer from a prompt it has cached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptCache {
    /// Each request starts with a prefix no earlier request of the process had: prefill
    /// is measured cold on every server (the prefix is counted in prompt tokens).
    #[default]
    Cold,
    /// Identical prompts; servers may reuse their KV cache (measuring that on purpose).
    Warm,
}

/// The order counted runs take across targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Every case of a target, then the next target's (launched servers one at a time).
    #[default]
    Sequential,
    /// Round by round across the in-process and already-running targets, so that drift
    /// (heat, background load) falls on all of them alike.
    Interleaved,
}

/// `cooldown = "until-cool"`: before each counted run, wait until power and clocks are
/// back near the machine's idle baseline (measure/energy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cooldown {
    UntilCool,
}

/// Parameters of one case, as recorded in the result file (`cases[].params`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Most tokens generated per request.
    pub max_tokens: u32,
    /// Requested size of a synthetic prompt, when the workload is synthetic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    /// Simultaneous requests per run.
    pub concurrency: u32,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f64,
    /// Nucleus sampling mass; sent only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sampling seed sent with every request.
    pub seed: u64,
    /// Whether exactly `max_tokens` were asked for, past end-of-sequence.
    pub ignore_eos: bool,
    /// Runs per case that were not counted.
    pub warmup: u32,
    /// Counted runs per case.
    pub iterations: u32,
    /// Per-request limit, seconds.
    pub timeout_s: f64,
    /// Pause between runs, seconds.
    pub cooldown_s: f64,
    /// Pause before this case's first request (its warmup) when another case ran before
    /// it, seconds; absent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub case_cooldown_s: f64,
    /// Chat or completion.
    pub api: Api,
    /// Cold (unique prefix per request) or warm (identical prompts); absent in files
    /// written before mlxbench controlled prompt caching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache: Option<PromptCache>,
    /// Requests that ran throttled (heat, power caps) are left out of the statistics.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude_throttled: bool,
    /// With `cooldown = "until-cool"`: the most seconds to wait for the machine to cool
    /// before each counted run (`cooldown_max_s`, default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_cool_max_s: Option<f64>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Params {
    /// The parameters that tell sweep points apart, e.g. `mt=128 pt=512 c=4`.
    pub fn label(&self) -> String {
        let mut s = format!("mt={}", self.max_tokens);
        if let Some(p) = self.prompt_tokens {
            s.push_str(&format!(" pt={p}"));
        }
        if self.concurrency > 1 {
            s.push_str(&format!(" c={}", self.concurrency));
        }
        s
    }
}

/// One target x workload x sweep point.
#[derive(Debug, Clone)]
pub struct Case {
    /// Index into [`Plan::targets`].
    pub target: usize,
    pub workload: Workload,
    pub params: Params,
}

impl Case {
    /// Short label for progress and tables, e.g. `short mt=128 c=4`.
    pub fn label(&self) -> String {
        format!("{} {}", self.workload.name, self.params.label())
    }
}

pub(crate) fn expand(
    spec: ScenarioSpec,
    kinds: &[BackendKind],
    prompt_files: Vec<Option<String>>,
    path: PathBuf,
    base_dir: PathBuf,
    source_sha256: String,
) -> Plan {
    let d = &spec.defaults;
    let val = |v: &Option<toml::Spanned<u32>>, default: u32| v.as_ref().map_or(default, |s| *s.get_ref());
    let fval = |v: &Option<toml::Spanned<f64>>, default: f64| v.as_ref().map_or(default, |s| *s.get_ref());
    let base = Params {
        max_tokens: val(&d.max_tokens, 128),
        prompt_tokens: None,
        concurrency: val(&d.concurrency, 1),
        temperature: fval(&d.temperature, 0.0),
        top_p: d.top_p.as_ref().map(|s| *s.get_ref()),
        seed: d.seed.unwrap_or(42),
        ignore_eos: d.ignore_eos.unwrap_or(true),
        warmup: val(&d.warmup, 1),
        iterations: val(&d.iterations, 5),
        timeout_s: fval(&d.timeout_s, 300.0),
        cooldown_s: fval(&d.cooldown_s, 0.0),
        case_cooldown_s: fval(&d.case_cooldown_s, 0.0),
        api: Api::Completion,
        prompt_cache: Some(d.prompt_cache.unwrap_or_default()),
        exclude_throttled: d.exclude_throttled.unwrap_or(false),
        until_cool_max_s: d.cooldown.map(|Cooldown::UntilCool| fval(&d.cooldown_max_s, 120.0)),
    };
    debug_assert_eq!(kinds.len(), spec.targets.len(), "validation knows every backend");
    let targets: Vec<Target> = spec.targets.iter().zip(kinds).map(|(t, k)| target::resolve(t.get_ref(), *k, &base_dir)).collect();
    let sweep = spec.sweep.clone().unwrap_or_default();
    let list = |v: &Option<toml::Spanned<Vec<u32>>>| v.as_ref().map(|s| s.get_ref().clone());
    let sweep_mt = list(&sweep.max_tokens);
    let sweep_pt = list(&sweep.prompt_tokens);
    let sweep_c = list(&sweep.concurrency).unwrap_or_else(|| vec![base.concurrency]);

    let mut cases = Vec::new();
    for ti in 0..targets.len() {
        for (wi, w) in spec.workloads.iter().enumerate() {
            let w = w.get_ref();
            let mts = sweep_mt.clone().unwrap_or_else(|| vec![w.max_tokens.as_ref().map_or(base.max_tokens, |m| *m.get_ref())]);
            let pts: Vec<Option<u32>> = match (&w.prompt_tokens, &sweep_pt) {
                (Some(_), Some(list)) => list.iter().copied().map(Some).collect(),
                (Some(n), None) => vec![Some(*n.get_ref())],
                (None, _) => vec![None],
            };
            for &pt in &pts {
                let (prompt, api) = resolve_prompt(w, prompt_files.get(wi).cloned().flatten(), pt);
                for &mt in &mts {
                    for &c in &sweep_c {
                        cases.push(Case {
                            target: ti,
                            workload: Workload { name: w.name.get_ref().clone(), prompt: prompt.clone() },
                            params: Params {
                                max_tokens: mt,
                                prompt_tokens: pt,
                                concurrency: c,
                                api,
                                prompt_cache: w.prompt_cache.or(base.prompt_cache),
                                ..base.clone()
                            },
                        });
                    }
                }
            }
        }
    }
    Plan {
        name: spec.name.as_ref().map(|n| n.get_ref().clone()).unwrap_or_default(),
        description: spec.description.clone(),
        path,
        base_dir,
        source_sha256,
        spec,
        targets,
        cases,
    }
}

fn resolve_prompt(w: &super::WorkloadSpec, file_text: Option<String>, pt: Option<u32>) -> (Prompt, Api) {
    let text = if let Some(m) = &w.messages {
        let msgs = m.get_ref().iter().map(|m| ChatMessage { role: m.role.clone(), content: m.content.clone() }).collect();
        return (Prompt::Chat(msgs), Api::Chat);
    } else if let Some(n) = pt {
        synthetic_prompt(n)
    } else {
        file_text.or_else(|| w.prompt.clone()).unwrap_or_default()
    };
    if w.chat == Some(true) {
        (Prompt::Chat(vec![ChatMessage { role: "user".into(), content: text }]), Api::Chat)
    } else {
        (Prompt::Text(text), Api::Completion)
    }
}

/// A deterministic prompt of about `n` tokens: common short English words, each one token
/// in the byte-level BPE vocabularies of the Llama/Qwen/SmolLM families when preceded by
/// a space. The exact count a backend saw is recorded from its own tokenizer.
pub fn synthetic_prompt(n: u32) -> String {
    const WORDS: &[&str] = &[
        "the", "cat", "sat", "on", "a", "red", "mat", "and", "we", "saw", "it", "run", "to", "the", "old", "tree", "by", "our", "house",
        "in", "spring", "when", "sun", "was", "high", "so", "all", "day", "long",
    ];
    let n = n.max(1) as usize;
    let mut s = String::with_capacity(n * 4);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[(state % WORDS.len() as u64) as usize]);
    }
    s
}
