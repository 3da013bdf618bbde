//! MLX's own GGUF loader (`mlx_load_gguf`) through mlx-c, which mlx-rs does not wrap.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::path::Path;

use crate::error::{Error, Result, mlx_err};
use mlx_rs::{Array, Stream};

struct Io(mlx_sys::mlx_io_gguf);
impl Drop for Io {
    fn drop(&mut self) {
        // SAFETY: the handle came from mlx_io_gguf_new and is freed once
        unsafe { mlx_sys::mlx_io_gguf_free(self.0) };
    }
}
struct Keys(mlx_sys::mlx_vector_string);
impl Drop for Keys {
    fn drop(&mut self) {
        // SAFETY: as above
        unsafe { mlx_sys::mlx_vector_string_free(self.0) };
    }
}

/// Every tensor of the file as MLX reads it (`X.weight`, and `X.scales`/`X.biases`
/// for quantized ones), by GGUF name. The caller has checked types and sizes.
pub fn load(path: &Path) -> Result<HashMap<String, Array>> {
    let failed = |what: &str| {
        crate::raw::drain_mlx_error();
        Error::MlxCall(format!("{}: MLX's GGUF loader failed ({what})", path.display()))
    };
    // any fallible mlx-rs call installs mlx-rs's error handler (MLX's default exits)
    let stream = Stream::cpu();
    Array::from_int(0).reshape(&[1]).map_err(mlx_err)?;
    let cpath =
        CString::new(path.to_string_lossy().as_bytes()).map_err(|_| Error::Model(format!("{}: a NUL byte in the path", path.display())))?;
    // SAFETY: plain mlx-c calls on handles owned by the guards above; strings returned
    // by mlx_vector_string_get stay valid while `keys` lives and are copied at once
    unsafe {
        let mut io = Io(mlx_sys::mlx_io_gguf_new());
        if mlx_sys::mlx_load_gguf(&mut io.0, cpath.as_ptr(), stream.as_ptr()) != 0 {
            return Err(failed("load"));
        }
        let mut keys = Keys(mlx_sys::mlx_vector_string_new());
        if mlx_sys::mlx_io_gguf_get_keys(&mut keys.0, io.0) != 0 {
            return Err(failed("keys"));
        }
        let n = mlx_sys::mlx_vector_string_size(keys.0);
        let mut out = HashMap::with_capacity(n);
        for i in 0..n {
            let mut key: *mut std::os::raw::c_char = std::ptr::null_mut();
            if mlx_sys::mlx_vector_string_get(&mut key, keys.0, i) != 0 || key.is_null() {
                return Err(failed("key"));
            }
            let name = CStr::from_ptr(key).to_string_lossy().into_owned();
            let mut arr = mlx_sys::mlx_array_new();
            if mlx_sys::mlx_io_gguf_get_array(&mut arr, io.0, key) != 0 {
                mlx_sys::mlx_array_free(arr);
                return Err(failed(&name));
            }
            out.insert(name, Array::from_ptr(arr));
        }
        Ok(out)
    }
}
