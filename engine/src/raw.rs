//! mlx-c calls that mlx-rs does not offer in the form the engine needs.
//!
//! - `slice_update`: MLX's slice update as one graph node. mlx-rs's indexed assignment
//!   (`try_index_mut`) adds two reshapes of the update around it, and every node of a
//!   decode step costs the host time when the step is dispatched.
//! - `slice_axis`: a view of one axis's range as one Slice node. mlx-rs's general
//!   indexing (`try_index`) parses the index and looks up the default stream on every
//!   call, host time that a decode step pays a few times per layer.
//! - `write_dot`: a development aid, the graph of one decode step written as Graphviz DOT
//!   (`MLXBENCH_STEP_DOT=FILE`), to count the operations MLX will run for a step and
//!   compare them with mlx-lm's (`mx.export_to_dot`). The file is written before the
//!   step is dispatched, so it shows what the step asks of MLX, not what ran.

use std::ffi::CString;

use mlx_rs::{Array, Stream};

use crate::error::{Error, Result};

/// The most axes the calls here take, and unit strides for each.
const AXES: usize = 8;
const ONES: [i32; AXES] = [1; AXES];

/// `buf` with `upd` written over `buf[starts[i]..ends[i]]` on every axis (unit strides);
/// `upd` has exactly that slice's shape. One SliceUpdate node in the graph.
pub fn slice_update(buf: &Array, upd: &Array, starts: &[i32], ends: &[i32], stream: &Stream) -> Result<Array> {
    // unit strides, without an allocation per call (two per layer per decode step)
    if ends.len() != starts.len() || starts.len() > AXES {
        return Err(Error::MlxCall(format!("slice update: {} starts and {} ends (at most {} axes)", starts.len(), ends.len(), AXES)));
    }
    let strides = &ONES[..starts.len()];
    // SAFETY: handles owned by the arrays and stream borrowed for the call; the slices
    // outlive it; the result handle is owned by the returned Array (or freed on error)
    unsafe {
        let mut res = mlx_sys::mlx_array_new();
        let rc = mlx_sys::mlx_slice_update(
            &mut res,
            buf.as_ptr(),
            upd.as_ptr(),
            starts.as_ptr(),
            starts.len(),
            ends.as_ptr(),
            ends.len(),
            strides.as_ptr(),
            strides.len(),
            stream.as_ptr(),
        );
        if rc != 0 {
            mlx_sys::mlx_array_free(res);
            drain_mlx_error();
            return Err(Error::MlxCall(format!(
                "MLX slice update failed: {:?} into {:?} at {starts:?}..{ends:?}",
                upd.shape(),
                buf.shape()
            )));
        }
        Ok(Array::from_ptr(res))
    }
}

/// `a` restricted to `r` on axis `axis` (unit stride; every other axis whole): one
/// Slice node, a view.
pub fn slice_axis(a: &Array, axis: usize, r: std::ops::Range<i32>, stream: &Stream) -> Result<Array> {
    let shape = a.shape();
    if axis >= shape.len() || shape.len() > AXES {
        return Err(Error::MlxCall(format!("slice: axis {axis} of a {}-axis array", shape.len())));
    }
    let (mut starts, mut stops) = ([0i32; AXES], [0i32; AXES]);
    stops[..shape.len()].copy_from_slice(shape);
    (starts[axis], stops[axis]) = (r.start, r.end);
    let n = shape.len();
    // SAFETY: as in `slice_update`: borrowed handles and slices outlive the call; the
    // result handle is owned by the returned Array (or freed on error)
    unsafe {
        let mut res = mlx_sys::mlx_array_new();
        let rc = mlx_sys::mlx_slice(&mut res, a.as_ptr(), starts.as_ptr(), n, stops.as_ptr(), n, ONES.as_ptr(), n, stream.as_ptr());
        if rc != 0 {
            mlx_sys::mlx_array_free(res);
            drain_mlx_error();
            return Err(Error::MlxCall(format!("MLX slice failed: {r:?} on axis {axis} of {shape:?}")));
        }
        Ok(Array::from_ptr(res))
    }
}

/// After a direct mlx-c call failed, MLX's message sits with mlx-rs's error handler:
/// drain it (a deliberately invalid reshape fails and takes it), so a later error is
/// reported as itself.
pub fn drain_mlx_error() {
    let _ = Array::from_int(0).reshape(&[2]);
}

unsafe extern "C" {
    fn fopen(path: *const std::os::raw::c_char, mode: *const std::os::raw::c_char) -> *mut mlx_sys::FILE;
    fn fclose(f: *mut mlx_sys::FILE) -> std::os::raw::c_int;
}

/// The file `MLXBENCH_STEP_DOT` names, if set.
pub fn step_dot_path() -> Option<String> {
    std::env::var("MLXBENCH_STEP_DOT").ok().filter(|p| !p.is_empty())
}

/// Writes the graph that computes `outputs` to `path` as DOT.
pub fn write_dot(path: &str, outputs: &[&Array]) -> Result<()> {
    let cpath = CString::new(path).map_err(|_| Error::MlxCall(format!("{path}: a NUL in the path")))?;
    // SAFETY: a FILE opened here, closed below; the vector and namer are freed below; the
    // arrays outlive the call
    unsafe {
        let f = fopen(cpath.as_ptr(), c"w".as_ptr());
        if f.is_null() {
            return Err(Error::MlxCall(format!("cannot write {path}")));
        }
        let vec = mlx_sys::mlx_vector_array_new();
        for a in outputs {
            mlx_sys::mlx_vector_array_append_value(vec, a.as_ptr());
        }
        let namer = mlx_sys::mlx_node_namer_new();
        let rc = mlx_sys::mlx_export_to_dot(f, namer, vec);
        mlx_sys::mlx_node_namer_free(namer);
        mlx_sys::mlx_vector_array_free(vec);
        fclose(f);
        if rc != 0 {
            return Err(Error::MlxCall(format!("MLX could not write the step's graph to {path}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use mlx_rs::ops::indexing::TryIndexOp;
    use mlx_rs::{Array, Stream};

    #[test]
    fn slice_axis_views_what_indexing_views_and_refuses_a_missing_axis() {
        let a = Array::from_iter(0..120, &[2, 3, 4, 5]);
        let s = Stream::thread_local_or_default();
        let check = |got: Array, want: Array| {
            assert_eq!(got.shape(), want.shape());
            assert!(mlx_rs::ops::array_eq(&got, &want, false).unwrap().try_item_cast::<bool>().unwrap());
        };
        check(super::slice_axis(&a, 0, 1..2, &s).unwrap(), a.try_index((1..2, .., .., ..)).unwrap());
        check(super::slice_axis(&a, 1, 1..3, &s).unwrap(), a.try_index((.., 1..3, .., ..)).unwrap());
        check(super::slice_axis(&a, 2, 0..1, &s).unwrap(), a.try_index((.., .., 0..1, ..)).unwrap());
        check(super::slice_axis(&a, 3, 2..5, &s).unwrap(), a.try_index((.., .., .., 2..5)).unwrap());
        let e = super::slice_axis(&a, 4, 0..1, &s).unwrap_err().to_string();
        assert!(e.contains("axis 4 of a 4-axis array"), "{e}");
    }
}
