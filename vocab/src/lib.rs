//! What the harness (`mlxbench`) and the engine (`mlxbench-engine`) both speak, declared
//! once: the harness builds without the engine (no MLX set-up for the HTTP backends), so
//! neither can own a type the other records. Serialized as result files have always
//! written it (`cases[].device`).

use serde::{Deserialize, Serialize};

/// Which kind of device a case computed on (`"cpu"` / `"gpu"`; another version's name
/// reads as `other`, which the engine never reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Gpu,
    #[serde(other)]
    Other,
}

impl DeviceKind {
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Gpu => "gpu",
            DeviceKind::Other => "other",
        }
    }
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A compute device as MLX reports it (`cases[].device` in result files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub kind: DeviceKind,
    /// "cpu", "metal" or "cuda".
    pub api: String,
    /// MLX's `device_name` where it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MLX's `architecture` where it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Device memory in bytes where MLX reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_written_by_name_and_an_unknown_one_reads_as_other() {
        for k in [DeviceKind::Cpu, DeviceKind::Gpu, DeviceKind::Other] {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.name()));
        }
        assert_eq!(serde_json::from_str::<DeviceKind>("\"npu\"").unwrap(), DeviceKind::Other);
        let d: DeviceRecord = serde_json::from_str(r#"{"kind":"gpu","api":"cuda","name":"NVIDIA H200"}"#).unwrap();
        assert_eq!((d.kind, d.name.as_deref(), d.memory_bytes), (DeviceKind::Gpu, Some("NVIDIA H200"), None));
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"kind":"gpu","api":"cuda","name":"NVIDIA H200"}"#);
    }
}
