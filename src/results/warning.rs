//! A case's warnings: each has a kind (so reports and dashboards can count them) and a
//! text. In a result file they are two arrays of one length: `warnings` (the texts, as
//! every earlier version wrote them) and `warning_kinds` (the kind of each, by index).
//! A file without `warning_kinds` (an older writer) reads every warning as `other`.

use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::SerializeMap};

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// Warmup requests failed (the counted ones may still have run).
    WarmupFailed,
    /// `cooldown = "until-cool"` could not wait, or ran out of time.
    NotCool,
    /// Values the MAD rule flags as outliers.
    Outliers,
    /// `ignore_eos` asked for, requests stopped early anyway.
    IgnoreEosNotHonoured,
    /// `prompt_cache = "warm"`: identical prompts on purpose.
    PromptCacheWarm,
    /// The server reported a prompt-cache hit.
    PromptCacheHit,
    /// The server claimed figures that cannot be true; the client's were kept.
    ClaimsSetAside,
    /// Requests ran while the machine throttled.
    Throttled,
    /// Requests too short for the energy counters.
    EnergyBelowResolution,
    /// `order = "interleaved"`.
    InterleavedOrder,
    /// The run was interrupted during the case.
    Interrupted,
    /// Load time could not be measured (server already running).
    LoadNotMeasured,
    /// Memory could not be measured (no process to read).
    MemoryNotMeasured,
    /// The model may not be cold at load (still resident, not listed, ...).
    ModelState,
    /// A query to the backend about itself failed (model list, model details).
    BackendQuery,
    /// Another version's kind, or a file that recorded none.
    #[serde(other)]
    Other,
}

impl WarningKind {
    /// The name written to result files.
    pub fn name(self) -> &'static str {
        match self {
            WarningKind::WarmupFailed => "warmup_failed",
            WarningKind::NotCool => "not_cool",
            WarningKind::Outliers => "outliers",
            WarningKind::IgnoreEosNotHonoured => "ignore_eos_not_honoured",
            WarningKind::PromptCacheWarm => "prompt_cache_warm",
            WarningKind::PromptCacheHit => "prompt_cache_hit",
            WarningKind::ClaimsSetAside => "claims_set_aside",
            WarningKind::Throttled => "throttled",
            WarningKind::EnergyBelowResolution => "energy_below_resolution",
            WarningKind::InterleavedOrder => "interleaved_order",
            WarningKind::Interrupted => "interrupted",
            WarningKind::LoadNotMeasured => "load_not_measured",
            WarningKind::MemoryNotMeasured => "memory_not_measured",
            WarningKind::ModelState => "model_state",
            WarningKind::BackendQuery => "backend_query",
            WarningKind::Other => "other",
        }
    }
}

impl std::fmt::Display for WarningKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One warning.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub kind: WarningKind,
    pub text: String,
}

/// A case's (or a backend's) warnings, in the order they were raised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Warnings(Vec<Warning>);

impl Warnings {
    pub fn push(&mut self, kind: WarningKind, text: String) {
        self.0.push(Warning { kind, text });
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Warning>) {
        self.0.extend(other);
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Warning> {
        self.0.iter()
    }

    /// The texts, in order.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|w| w.text.as_str())
    }

    /// The kinds, in order.
    pub fn kinds(&self) -> impl Iterator<Item = WarningKind> + '_ {
        self.0.iter().map(|w| w.kind)
    }

    /// True when a warning of `kind` was raised.
    pub fn has(&self, kind: WarningKind) -> bool {
        self.0.iter().any(|w| w.kind == kind)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Rewrites every text in place (redaction).
    pub fn texts_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.0.iter_mut().map(|w| &mut w.text)
    }
}

impl IntoIterator for Warnings {
    type Item = Warning;
    type IntoIter = std::vec::IntoIter<Warning>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Warnings {
    type Item = &'a Warning;
    type IntoIter = std::slice::Iter<'a, Warning>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Written (flattened into the case) as `warnings` and `warning_kinds`.
impl Serialize for Warnings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("warnings", &self.texts().collect::<Vec<_>>())?;
        map.serialize_entry("warning_kinds", &self.kinds().collect::<Vec<_>>())?;
        map.end()
    }
}

#[derive(Deserialize)]
struct Written {
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    warning_kinds: Vec<WarningKind>,
}

/// A text without a kind at its index (an older file, or a hand edit) reads as `other`.
impl<'de> Deserialize<'de> for Warnings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Written::deserialize(d)?;
        let kinds = w.warning_kinds.into_iter().chain(std::iter::repeat(WarningKind::Other));
        Ok(Warnings(w.warnings.into_iter().zip(kinds).map(|(text, kind)| Warning { kind, text }).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Case {
        name: String,
        #[serde(flatten)]
        warnings: Warnings,
    }

    #[test]
    fn written_as_texts_and_kinds_of_one_length() {
        let mut w = Warnings::default();
        w.push(WarningKind::Outliers, "2 of 9 ttft_ms values are outliers".into());
        w.push(WarningKind::Throttled, "1 of 9 requests ran throttled".into());
        let json = serde_json::to_value(Case { name: "a".into(), warnings: w.clone() }).unwrap();
        assert_eq!(json["warnings"], serde_json::json!(["2 of 9 ttft_ms values are outliers", "1 of 9 requests ran throttled"]));
        assert_eq!(json["warning_kinds"], serde_json::json!(["outliers", "throttled"]));
        let back: Case = serde_json::from_value(json).unwrap();
        assert_eq!(back.warnings, w);
    }

    #[test]
    fn an_older_file_or_an_unknown_kind_reads_as_other() {
        let old: Case = serde_json::from_str(r#"{"name":"a","warnings":["x","y"]}"#).unwrap();
        assert_eq!(old.warnings.kinds().collect::<Vec<_>>(), [WarningKind::Other, WarningKind::Other]);
        let newer: Case =
            serde_json::from_str(r#"{"name":"a","warnings":["x","y"],"warning_kinds":["from_the_future","outliers"]}"#).unwrap();
        assert_eq!(newer.warnings.kinds().collect::<Vec<_>>(), [WarningKind::Other, WarningKind::Outliers]);
        assert_eq!(newer.warnings.texts().collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn names_match_what_serde_writes() {
        for k in [
            WarningKind::WarmupFailed,
            WarningKind::NotCool,
            WarningKind::Outliers,
            WarningKind::IgnoreEosNotHonoured,
            WarningKind::PromptCacheWarm,
            WarningKind::PromptCacheHit,
            WarningKind::ClaimsSetAside,
            WarningKind::Throttled,
            WarningKind::EnergyBelowResolution,
            WarningKind::InterleavedOrder,
            WarningKind::Interrupted,
            WarningKind::LoadNotMeasured,
            WarningKind::MemoryNotMeasured,
            WarningKind::ModelState,
            WarningKind::BackendQuery,
            WarningKind::Other,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(k.name()));
        }
    }
}
