//! Which device MLX computes on, asked of MLX itself (mlx-c's default device, its
//! availability and `device_info`), and pinning a device for this process.

use std::ffi::{CStr, CString};

use crate::EngineError;

/// A device as MLX reports it, declared once with the harness (`cases[].device`).
pub use mlxbench_vocab::{DeviceKind, DeviceRecord as DeviceInfo};

/// The API MLX computes through on a GPU on this platform.
pub fn gpu_api() -> &'static str {
    if cfg!(target_os = "macos") { "metal" } else { "cuda" }
}

fn device_of(kind: mlx_sys::mlx_device_type) -> mlx_sys::mlx_device {
    // SAFETY: makes a new device handle; freed by the caller
    unsafe { mlx_sys::mlx_device_new_type(kind, 0) }
}

/// MLX's CUDA backend records kernels into CUDA graphs and launches a graph every
/// `MLX_MAX_OPS_PER_BUFFER` kernels; each costs the host a graph update and a launch.
/// MLX's own default depends on the GPU (MLX 0.32: 100 on Hopper and Blackwell, 20 on
/// the A100 and others), so on an H100/H200 this value is MLX's own. A small model's
/// decode step is a few hundred kernels and host-bound, so the engine asks for 100
/// everywhere (README, "Native engine against mlx-lm").
pub const CUDA_OPS_PER_GRAPH: u32 = 100;

const OPS_VAR: &str = "MLX_MAX_OPS_PER_BUFFER";

/// Sets `MLX_MAX_OPS_PER_BUFFER` to [`CUDA_OPS_PER_GRAPH`] when MLX has a CUDA GPU here
/// and the environment does not already set it (a value given by the user wins).
///
/// # Safety
/// Writes the environment: call before any other thread exists. MLX reads the value
/// once, at its first GPU evaluation, so this must also come before any.
pub unsafe fn tune_launches() {
    if gpu_api() == "cuda" && std::env::var_os(OPS_VAR).is_none() && available(true) {
        // SAFETY: the caller guarantees no other thread reads or writes the environment
        unsafe { std::env::set_var(OPS_VAR, CUDA_OPS_PER_GRAPH.to_string()) };
    }
}

/// `MLX_MAX_OPS_PER_BUFFER` as set in this process, for results to say how MLX ran.
pub fn launch_setting() -> Option<String> {
    std::env::var(OPS_VAR).ok().map(|v| format!("{OPS_VAR}={v}"))
}

/// Whether MLX can compute on the CPU or the GPU in this process.
pub fn available(gpu: bool) -> bool {
    let kind = if gpu { mlx_sys::mlx_device_type__MLX_GPU } else { mlx_sys::mlx_device_type__MLX_CPU };
    let dev = device_of(kind);
    let mut avail = false;
    // SAFETY: `dev` is a valid handle; `avail` outlives the call
    let ok = unsafe { mlx_sys::mlx_device_is_available(&mut avail, dev) } == 0;
    // SAFETY: frees the handle made above, once
    unsafe { mlx_sys::mlx_device_free(dev) };
    ok && avail
}

/// Makes `gpu` (or the CPU) MLX's default device for this process.
pub fn pin(gpu: bool) -> Result<DeviceInfo, EngineError> {
    if !available(gpu) {
        let what = if gpu { format!("a GPU ({}; this MLX has none)", gpu_api()) } else { "the CPU".into() };
        return Err(EngineError::Request(format!("device = \"{}\" asked for, but MLX cannot use {what}", if gpu { "gpu" } else { "cpu" })));
    }
    let kind = if gpu { mlx_sys::mlx_device_type__MLX_GPU } else { mlx_sys::mlx_device_type__MLX_CPU };
    let dev = device_of(kind);
    // SAFETY: `dev` is valid; MLX copies it into its default
    let rc = unsafe { mlx_sys::mlx_set_default_device(dev) };
    // SAFETY: frees the handle made above, once
    unsafe { mlx_sys::mlx_device_free(dev) };
    if rc != 0 {
        return Err(EngineError::Mlx("cannot set MLX's default device".into()));
    }
    Ok(current())
}

/// MLX's default device, described by MLX.
pub fn current() -> DeviceInfo {
    // SAFETY: a new handle filled by mlx_get_default_device, freed below
    let mut dev = unsafe { mlx_sys::mlx_device_new() };
    let mut kind: mlx_sys::mlx_device_type = mlx_sys::mlx_device_type__MLX_CPU;
    // SAFETY: `dev` and `kind` are valid for the calls
    let ok = unsafe { mlx_sys::mlx_get_default_device(&mut dev) == 0 && mlx_sys::mlx_device_get_type(&mut kind, dev) == 0 };
    let gpu = ok && kind == mlx_sys::mlx_device_type__MLX_GPU;
    let mut d = DeviceInfo {
        kind: if gpu { DeviceKind::Gpu } else { DeviceKind::Cpu },
        api: if gpu { gpu_api() } else { "cpu" }.into(),
        name: None,
        architecture: None,
        memory_bytes: None,
    };
    // SAFETY: a new info object, filled for `dev`, read by key, freed once
    unsafe {
        let mut info = mlx_sys::mlx_device_info_new();
        if mlx_sys::mlx_device_info_get(&mut info, dev) == 0 {
            d.name = info_string(info, "device_name");
            d.architecture = info_string(info, "architecture");
            d.memory_bytes = ["memory_size", "total_memory", "memory"].iter().find_map(|k| info_size(info, k));
        }
        mlx_sys::mlx_device_info_free(info);
        mlx_sys::mlx_device_free(dev);
    }
    d
}

/// A string value of a device info, when the key is there and a string.
///
/// # Safety
/// `info` must be a valid, filled device info.
unsafe fn info_string(info: mlx_sys::mlx_device_info, key: &str) -> Option<String> {
    let k = CString::new(key).ok()?;
    let mut is_string = false;
    let mut exists = false;
    // SAFETY: valid info, NUL-terminated key, out-pointers live for the calls
    unsafe {
        if mlx_sys::mlx_device_info_has_key(&mut exists, info, k.as_ptr()) != 0 || !exists {
            return None;
        }
        if mlx_sys::mlx_device_info_is_string(&mut is_string, info, k.as_ptr()) != 0 || !is_string {
            return None;
        }
        let mut value: *const std::os::raw::c_char = std::ptr::null();
        if mlx_sys::mlx_device_info_get_string(&mut value, info, k.as_ptr()) != 0 || value.is_null() {
            return None;
        }
        Some(CStr::from_ptr(value).to_string_lossy().into_owned()).filter(|s| !s.is_empty())
    }
}

/// A size value of a device info, when the key is there and a size.
///
/// # Safety
/// `info` must be a valid, filled device info.
unsafe fn info_size(info: mlx_sys::mlx_device_info, key: &str) -> Option<u64> {
    let k = CString::new(key).ok()?;
    let (mut exists, mut is_string) = (false, true);
    let mut value: usize = 0;
    // SAFETY: valid info, NUL-terminated key, out-pointers live for the calls
    unsafe {
        if mlx_sys::mlx_device_info_has_key(&mut exists, info, k.as_ptr()) != 0 || !exists {
            return None;
        }
        if mlx_sys::mlx_device_info_is_string(&mut is_string, info, k.as_ptr()) != 0 || is_string {
            return None;
        }
        (mlx_sys::mlx_device_info_get_size(&mut value, info, k.as_ptr()) == 0 && value > 0).then_some(value as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlx_names_its_default_device() {
        let d = current();
        assert!(matches!((d.kind.name(), d.api.as_str()), ("cpu", "cpu") | ("gpu", "metal") | ("gpu", "cuda")), "{d:?}");
        assert!(available(false), "MLX always has its CPU backend");
        if !available(true) {
            let e = pin(true).unwrap_err().to_string();
            assert!(e.contains("device = \"gpu\"") && e.contains("MLX cannot use a GPU"), "{e}");
        }
        assert_eq!(pin(d.kind == DeviceKind::Gpu).unwrap().kind, d.kind);
    }

    /// On a Mac, MLX's default is the Metal GPU whenever MLX reports one; GitHub's hosted
    /// Apple Silicon runners (virtual machines, a paravirtual GPU) may report none, and
    /// then MLX computes on its CPU backend: the Metal half is skipped, saying why.
    #[cfg(target_os = "macos")]
    #[test]
    fn on_a_mac_mlx_computes_on_metal_when_it_has_a_device() {
        if !available(true) {
            eprintln!("SKIPPED: MLX reports no Metal device on this Mac (a virtual machine?): its CPU backend runs the tests");
            assert_eq!(current().kind, DeviceKind::Cpu);
            return;
        }
        let d = pin(true).unwrap();
        assert_eq!((d.kind.name(), d.api.as_str()), ("gpu", "metal"), "{d:?}");
    }
}
