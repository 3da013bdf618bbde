//! Expansion of a validated scenario into a [`Plan`]: resolved targets, workloads with
//! their prompts, and one [`Case`] per target x workload x sweep point.

use std::path::PathBuf;

use serde::Serialize;

use super::schema::{ScenarioSpec, TargetSpec};

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

/// A resolved target.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub backend: String,
    pub model: String,
    pub spec: TargetSpec,
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

/// Parameters of one case, as recorded in the result file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    pub max_tokens: u32,
    /// Requested size of a synthetic prompt, when the workload is synthetic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    pub concurrency: u32,
    pub temperature: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    pub seed: u64,
    pub ignore_eos: bool,
    pub warmup: u32,
    pub iterations: u32,
    pub timeout_s: f64,
    pub cooldown_s: f64,
    /// "chat" or "completion".
    pub api: &'static str,
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
        let mut s = format!("{} mt={}", self.workload.name, self.params.max_tokens);
        if let Some(p) = self.params.prompt_tokens {
            s.push_str(&format!(" pt={p}"));
        }
        if self.params.concurrency > 1 {
            s.push_str(&format!(" c={}", self.params.concurrency));
        }
        s
    }
}

pub(crate) fn expand(
    spec: ScenarioSpec,
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
        api: "completion",
    };
    let targets: Vec<Target> = spec
        .targets
        .iter()
        .map(|t| {
            let t = t.get_ref();
            Target {
                name: t.name.clone().unwrap_or_else(|| format!("{}:{}", t.backend.get_ref(), t.model.get_ref())),
                backend: t.backend.get_ref().clone(),
                model: t.model.get_ref().clone(),
                spec: t.clone(),
            }
        })
        .collect();
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
                            params: Params { max_tokens: mt, prompt_tokens: pt, concurrency: c, api, ..base.clone() },
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

fn resolve_prompt(w: &super::WorkloadSpec, file_text: Option<String>, pt: Option<u32>) -> (Prompt, &'static str) {
    let text = if let Some(m) = &w.messages {
        let msgs = m.get_ref().iter().map(|m| ChatMessage { role: m.role.clone(), content: m.content.clone() }).collect();
        return (Prompt::Chat(msgs), "chat");
    } else if let Some(n) = pt {
        synthetic_prompt(n)
    } else {
        file_text.or_else(|| w.prompt.clone()).unwrap_or_default()
    };
    if w.chat == Some(true) {
        (Prompt::Chat(vec![ChatMessage { role: "user".into(), content: text }]), "chat")
    } else {
        (Prompt::Text(text), "completion")
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
