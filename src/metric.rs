//! The metric vocabulary (docs/DESIGN.md "Metrics"): every number a case summarises,
//! with its name in result files, its unit, which direction is better, and how it is
//! read from a case's samples or runs. Names never change: they are the result-file
//! contract; new metrics are added at the end of their group.

use serde::{Deserialize, Serialize};

use crate::measure::sample::Sample;

/// One summarised metric. Declared in the alphabetical order of the names, which is
/// also the order of a case's `summary` object in result files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Metric {
    /// Output tokens of all concurrent streams of a run / the run's wall time.
    AggregateOutputTps,
    /// (output_tokens - 1) / (last token arrival - first token arrival).
    DecodeTps,
    /// The decode rate the server computed itself.
    DecodeTpsServer,
    /// Request sent -> stream complete.
    E2eMs,
    /// Request sent -> first byte of the response body.
    FirstByteMs,
    /// Gaps between successive token arrivals (every gap of every request).
    ItlMs,
    /// Decode-phase energy / decoded tokens (output_tokens - 1), J.
    JPerToken,
    /// As JPerToken, less the idle power measured before the case.
    JPerTokenAboveIdle,
    OutputTokens,
    /// Request energy / end-to-end time, W.
    PowerW,
    /// Prompt tokens / prefill time (server-reported prefill where given, else TTFT).
    PrefillTps,
    PromptTokens,
    /// Decoded tokens per J of decode-phase energy.
    TokensPerJ,
    /// Request sent -> first chunk carrying generated text.
    TtftMs,
}

/// Where a metric's values come from.
enum Source {
    /// One value per successful request.
    Sample(fn(&Sample) -> Option<f64>),
    /// Every inter-token gap of every successful request.
    Gaps,
    /// One value per counted run with at least one successful request.
    Run,
}

impl Metric {
    /// Every metric, in summary order.
    pub const ALL: [Metric; 14] = [
        Metric::AggregateOutputTps,
        Metric::DecodeTps,
        Metric::DecodeTpsServer,
        Metric::E2eMs,
        Metric::FirstByteMs,
        Metric::ItlMs,
        Metric::JPerToken,
        Metric::JPerTokenAboveIdle,
        Metric::OutputTokens,
        Metric::PowerW,
        Metric::PrefillTps,
        Metric::PromptTokens,
        Metric::TokensPerJ,
        Metric::TtftMs,
    ];

    /// The energy metrics: shown where a case measured them (run table, reports).
    pub const ENERGY: [Metric; 3] = [Metric::JPerToken, Metric::TokensPerJ, Metric::PowerW];

    /// What `compare` decides on when no `--metric` is given.
    pub const COMPARED_BY_DEFAULT: [Metric; 4] = [Metric::DecodeTps, Metric::TtftMs, Metric::PrefillTps, Metric::E2eMs];

    /// Which metrics each output shows, defined here once:
    ///
    /// the run table, the CSV and the dashboard formats (github-action-benchmark, Bencher).
    pub const EXPORTED: [Metric; 5] = [Metric::TtftMs, Metric::DecodeTps, Metric::PrefillTps, Metric::E2eMs, Metric::AggregateOutputTps];

    /// The report's bar charts.
    pub const CHARTED: [Metric; 3] = [Metric::DecodeTps, Metric::TtftMs, Metric::PrefillTps];

    /// The report's machine and trend sections and the site's index.
    pub const TRENDED: [Metric; 2] = [Metric::DecodeTps, Metric::TtftMs];

    /// Per-request metrics whose outliers are worth a warning on single-stream cases.
    pub const OUTLIER_CHECKED: [Metric; 3] = [Metric::TtftMs, Metric::E2eMs, Metric::DecodeTps];

    /// The name in result files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Metric::AggregateOutputTps => "aggregate_output_tps",
            Metric::DecodeTps => "decode_tps",
            Metric::DecodeTpsServer => "decode_tps_server",
            Metric::E2eMs => "e2e_ms",
            Metric::FirstByteMs => "first_byte_ms",
            Metric::ItlMs => "itl_ms",
            Metric::JPerToken => "j_per_token",
            Metric::JPerTokenAboveIdle => "j_per_token_above_idle",
            Metric::OutputTokens => "output_tokens",
            Metric::PowerW => "power_w",
            Metric::PrefillTps => "prefill_tps",
            Metric::PromptTokens => "prompt_tokens",
            Metric::TokensPerJ => "tokens_per_j",
            Metric::TtftMs => "ttft_ms",
        }
    }

    /// A metric by its result-file name.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::AggregateOutputTps | Metric::DecodeTps | Metric::DecodeTpsServer | Metric::PrefillTps => "tokens/s",
            Metric::E2eMs | Metric::FirstByteMs | Metric::ItlMs | Metric::TtftMs => "ms",
            Metric::OutputTokens | Metric::PromptTokens => "tokens",
            Metric::JPerToken | Metric::JPerTokenAboveIdle => "J/token",
            Metric::PowerW => "W",
            Metric::TokensPerJ => "tokens/J",
        }
    }

    /// A heading for charts and tables.
    pub fn title(self) -> &'static str {
        match self {
            Metric::AggregateOutputTps => "Total output speed",
            Metric::DecodeTps => "Decode speed",
            Metric::DecodeTpsServer => "Decode speed (server)",
            Metric::E2eMs => "End-to-end time",
            Metric::FirstByteMs => "Time to first byte",
            Metric::ItlMs => "Inter-token latency",
            Metric::JPerToken => "Energy per token",
            Metric::JPerTokenAboveIdle => "Energy per token above idle",
            Metric::OutputTokens => "Output tokens",
            Metric::PowerW => "Average power",
            Metric::PrefillTps => "Prefill speed",
            Metric::PromptTokens => "Prompt tokens",
            Metric::TokensPerJ => "Tokens per joule",
            Metric::TtftMs => "Time to first token",
        }
    }

    /// A table column's heading, e.g. `Decode tok/s`.
    pub fn column(self) -> &'static str {
        match self {
            Metric::AggregateOutputTps => "Total tok/s",
            Metric::DecodeTps => "Decode tok/s",
            Metric::DecodeTpsServer => "Server decode tok/s",
            Metric::E2eMs => "E2E ms",
            Metric::FirstByteMs => "First byte ms",
            Metric::ItlMs => "ITL ms",
            Metric::JPerToken => "J/token",
            Metric::JPerTokenAboveIdle => "J/token above idle",
            Metric::OutputTokens => "Output tokens",
            Metric::PowerW => "Power W",
            Metric::PrefillTps => "Prefill tok/s",
            Metric::PromptTokens => "Prompt tokens",
            Metric::TokensPerJ => "Tokens/J",
            Metric::TtftMs => "TTFT ms",
        }
    }

    /// Rates and efficiencies are better higher; times, energy, power and counts-as-cost
    /// are better lower.
    pub fn higher_is_better(self) -> bool {
        matches!(self.unit(), "tokens/s" | "tokens/J")
    }

    fn source(self) -> Source {
        match self {
            Metric::AggregateOutputTps => Source::Run,
            Metric::ItlMs => Source::Gaps,
            Metric::DecodeTps => Source::Sample(|s| s.decode_tps),
            Metric::DecodeTpsServer => Source::Sample(|s| s.decode_tps_server),
            Metric::E2eMs => Source::Sample(|s| s.e2e_ms),
            Metric::FirstByteMs => Source::Sample(|s| s.first_byte_ms),
            Metric::OutputTokens => Source::Sample(|s| s.output_tokens.map(|n| n as f64)),
            Metric::JPerToken => Source::Sample(|s| s.j_per_token),
            Metric::JPerTokenAboveIdle => Source::Sample(|s| s.j_per_token_above_idle),
            Metric::PowerW => Source::Sample(|s| s.power_w),
            Metric::TokensPerJ => Source::Sample(|s| s.tokens_per_j),
            Metric::PrefillTps => Source::Sample(|s| s.prefill_tps),
            Metric::PromptTokens => Source::Sample(|s| s.prompt_tokens.map(|n| n as f64)),
            Metric::TtftMs => Source::Sample(|s| s.ttft_ms),
        }
    }

    /// The metric's values over successful samples, and over runs (`(ok requests,
    /// output tokens/s)` per counted run) for the per-run metric.
    pub fn values<'a>(self, samples: impl Iterator<Item = &'a Sample>, runs: impl Iterator<Item = (u32, f64)>) -> Vec<f64> {
        let ok = samples.filter(|s| s.ok);
        match self.source() {
            Source::Sample(get) => ok.filter_map(get).collect(),
            Source::Gaps => ok.flat_map(|s| s.itl_ms.iter().copied()).collect(),
            Source::Run => runs.filter(|(n, _)| *n > 0).map(|(_, v)| v).collect(),
        }
    }

    /// True when the metric has one value per request (not per gap or per run).
    pub fn per_request(self) -> bool {
        matches!(self.source(), Source::Sample(_))
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_sorted() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), serde_json::json!(m.name()));
            assert_eq!(<Metric as clap::ValueEnum>::from_str(m.name(), false), Ok(m));
        }
        let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "declaration order must be the summary's key order");
        assert!(Metric::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn directions() {
        assert!(Metric::DecodeTps.higher_is_better());
        assert!(!Metric::TtftMs.higher_is_better());
        assert!(!Metric::ItlMs.higher_is_better());
        assert!(Metric::TokensPerJ.higher_is_better());
        assert!(!Metric::JPerToken.higher_is_better() && !Metric::PowerW.higher_is_better());
    }

    #[test]
    fn values_skip_failed_samples_and_empty_runs() {
        let ok = Sample { ok: true, ttft_ms: Some(5.0), itl_ms: vec![1.0, 2.0], ..Default::default() };
        let bad = Sample { ok: false, ttft_ms: Some(99.0), ..Default::default() };
        let s = [ok, bad];
        assert_eq!(Metric::TtftMs.values(s.iter(), std::iter::empty()), vec![5.0]);
        assert_eq!(Metric::ItlMs.values(s.iter(), std::iter::empty()), vec![1.0, 2.0]);
        assert_eq!(Metric::AggregateOutputTps.values(s.iter(), [(0, 9.0), (2, 40.0)].into_iter()), vec![40.0]);
    }
}
