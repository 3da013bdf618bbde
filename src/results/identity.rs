//! What makes two cases the same measurement, across runs and machines, and the one
//! index that finds a case's counterpart in another run. `compare`, the report's machine
//! tables and charts, and its trends all match cases through [`CaseIndex`].
//!
//! The identity is everything that changes what is measured: target, model, workload,
//! token counts, concurrency, API, sampling (temperature, top_p, seed), `ignore_eos`,
//! prompt caching and the device. Warmup, iterations, timeouts and cooldown are not in
//! it. Files written before mlxbench recorded `prompt_cache` or `device` lack them: such a
//! part matches any value, so older files still pair with newer ones where nothing
//! recorded says they differ.

use std::collections::HashMap;
use std::fmt;

use super::CaseResult;

/// A case's identity ([`CaseResult::identity`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// What every result file records.
    pub core: String,
    /// What only newer files record, `None` where the file predates it: prompt caching,
    /// then the device (`kind/api`; servers record none).
    pub recorded: [Option<String>; 2],
}

impl Identity {
    /// Same core, and each recorded part equal or unknown on one side.
    pub fn matches(&self, other: &Identity) -> bool {
        self.core == other.core && self.recorded.iter().zip(&other.recorded).all(|(a, b)| a.is_none() || b.is_none() || a == b)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |p: &Option<String>| p.clone().unwrap_or_else(|| "?".into());
        write!(f, "{} cache={} device={}", self.core, part(&self.recorded[0]), part(&self.recorded[1]))
    }
}

impl CaseResult {
    /// This case's [`Identity`].
    pub fn identity(&self) -> Identity {
        let p = &self.params;
        let pt = p.prompt_tokens.map(|n| n.to_string()).unwrap_or_default();
        let top_p = p.top_p.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
        let core = format!(
            "{} / {} [{}] mt={} pt={pt} c={} {:?} t={} top_p={top_p} seed={} ignore_eos={}",
            self.target, self.workload, self.model, p.max_tokens, p.concurrency, p.api, p.temperature, p.seed, p.ignore_eos
        );
        let cache = p.prompt_cache.map(|c| format!("{c:?}").to_lowercase());
        let device = self.device.as_ref().map(|d| format!("{}/{}", d.kind, d.api));
        Identity { core, recorded: [cache, device] }
    }

    /// [`CaseResult::identity`] as one string, for messages and de-duplication.
    pub fn key(&self) -> String {
        self.identity().to_string()
    }
}

/// The cases of one run by identity: finding a counterpart stays linear over runs.
pub struct CaseIndex<'a> {
    by_core: HashMap<String, Vec<(Identity, &'a CaseResult)>>,
}

impl<'a> CaseIndex<'a> {
    pub fn new(cases: &'a [CaseResult]) -> Self {
        let mut by_core: HashMap<String, Vec<(Identity, &CaseResult)>> = HashMap::with_capacity(cases.len());
        for c in cases {
            let id = c.identity();
            by_core.entry(id.core.clone()).or_default().push((id, c));
        }
        CaseIndex { by_core }
    }

    /// The case with exactly this identity, else the first whose unrecorded parts allow it.
    pub fn get(&self, id: &Identity) -> Option<&'a CaseResult> {
        let same = self.by_core.get(&id.core)?;
        same.iter().find(|(other, _)| other == id).or_else(|| same.iter().find(|(other, _)| other.matches(id))).map(|(_, c)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{DeviceKind, DeviceRecord, PromptCache};

    fn case(cache: Option<PromptCache>, temperature: f64, device: Option<DeviceKind>) -> CaseResult {
        let mut c: CaseResult = serde_json::from_value(serde_json::json!({
            "target": "mlx", "backend": "mlx", "model": "m", "workload": "w",
            "params": {"max_tokens": 8, "concurrency": 1, "temperature": 0.0, "seed": 1, "ignore_eos": true,
                       "warmup": 0, "iterations": 1, "timeout_s": 1.0, "cooldown_s": 0.0, "api": "chat"},
            "samples": [], "summary": {}, "warnings": []
        }))
        .unwrap();
        c.params.prompt_cache = cache;
        c.params.temperature = temperature;
        c.device = device.map(|k| DeviceRecord { kind: k, api: "metal".into(), name: None, architecture: None, memory_bytes: None });
        c
    }

    #[test]
    fn device_kinds_keep_their_names_in_files() {
        let k: DeviceKind = serde_json::from_str("\"gpu\"").unwrap();
        assert_eq!((k, serde_json::to_string(&k).unwrap()), (DeviceKind::Gpu, "\"gpu\"".into()));
        assert_eq!(serde_json::from_str::<DeviceKind>("\"npu\"").unwrap(), DeviceKind::Other);
    }

    #[test]
    fn everything_that_changes_a_measurement_tells_cases_apart() {
        let base = case(Some(PromptCache::Cold), 0.0, Some(DeviceKind::Gpu));
        let ix_cases =
            [case(Some(PromptCache::Warm), 0.0, Some(DeviceKind::Gpu)), case(Some(PromptCache::Cold), 0.7, Some(DeviceKind::Gpu))];
        let ix = CaseIndex::new(&ix_cases);
        assert!(ix.get(&base.identity()).is_none(), "a warm cache or another temperature is another measurement");
        let mut seeded = base.clone();
        seeded.params.seed = 2;
        let mut on_cpu = base.clone();
        on_cpu.device.as_mut().unwrap().kind = DeviceKind::Cpu;
        for other in [seeded, on_cpu] {
            assert!(!other.identity().matches(&base.identity()), "{}", other.key());
        }
        // warmup and iterations are not the measurement
        let mut more = base.clone();
        more.params.iterations = 50;
        assert_eq!(more.identity(), base.identity());
    }

    #[test]
    fn older_files_match_where_nothing_recorded_differs() {
        let old = case(None, 0.0, None);
        let new_cases =
            [case(Some(PromptCache::Warm), 0.7, Some(DeviceKind::Gpu)), case(Some(PromptCache::Cold), 0.0, Some(DeviceKind::Gpu))];
        let ix = CaseIndex::new(&new_cases);
        let found = ix.get(&old.identity()).expect("an old file's case pairs with the new one");
        assert_eq!(found.params.temperature, 0.0);
        // an exact match wins over a compatible one
        let both = [case(None, 0.0, None), case(Some(PromptCache::Cold), 0.0, Some(DeviceKind::Gpu))];
        let ix = CaseIndex::new(&both);
        assert!(ix.get(&new_cases[1].identity()).unwrap().params.prompt_cache.is_some());
        assert!(old.key().ends_with("cache=? device=?"), "{}", old.key());
    }
}
