//! The tensor data of a GGUF file as MLX arrays, read by us (MLX's own loader reads
//! neither Q5 nor most K-quant types, and rounds Q4_K's scales its own way): F32 and F16
//! as they are, BF16 as float16 (as MLX's loader gave it), quantized types re-packed by
//! [`super::quants`] as `X.weight` (u32 words), `X.scales` and `X.biases` (float16).
//! Types, sizes and the file's length were checked from the header before this reads.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use half::f16;
use mlx_rs::{Array, Dtype};

use super::header::{BF16, F16, F32, Gguf, TensorInfo};
use super::quants::{self, Kind};
use crate::error::{Error, Result, io_err, mlx_err};

/// MLX's shape of a tensor (GGUF lists the innermost dimension first).
fn shape(t: &TensorInfo) -> Vec<i32> {
    t.dims.iter().rev().map(|d| *d as i32).collect()
}

/// Every tensor of the file by GGUF name (`X.scales`/`X.biases` beside quantized ones).
pub fn load(g: &Gguf) -> Result<HashMap<String, Array>> {
    let path = &g.path;
    let mut f = crate::files::open(path)?;
    let mut out = HashMap::with_capacity(g.tensors.len() * 2);
    for t in &g.tensors {
        let (start, len) = g.data_range(t)?;
        let mut bytes = vec![0u8; len as usize];
        f.seek(SeekFrom::Start(start)).and_then(|_| f.read_exact(&mut bytes)).map_err(io_err(path))?;
        let dims = shape(t);
        match Kind::of(t.kind) {
            Some(kind) => {
                let a = quants::to_affine(kind, &bytes);
                let (mut w_shape, mut g_shape) = (dims.clone(), dims);
                let cols = *w_shape.last().unwrap_or(&0);
                *w_shape.last_mut().unwrap_or(&mut 0) = cols / 32 * a.bits as i32;
                *g_shape.last_mut().unwrap_or(&mut 0) = cols / 32;
                let half = |v: &[f32]| Array::from_slice(v, &g_shape).as_dtype(Dtype::Float16).map_err(mlx_err);
                let stem = t.name.strip_suffix(".weight").unwrap_or(&t.name);
                out.insert(format!("{stem}.scales"), half(&a.scales)?);
                out.insert(format!("{stem}.biases"), half(&a.biases)?);
                out.insert(t.name.clone(), Array::from_slice(&a.words, &w_shape));
            }
            None => {
                let a = match t.kind {
                    F32 => Array::from_slice(
                        &bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<_>>(),
                        &dims,
                    ),
                    F16 => Array::from_slice(&bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect::<Vec<_>>(), &dims),
                    BF16 => Array::from_slice(
                        &bytes.chunks_exact(2).map(|c| f16::from_f32(half::bf16::from_le_bytes([c[0], c[1]]).to_f32())).collect::<Vec<_>>(),
                        &dims,
                    ),
                    other => return Err(Error::Model(format!("tensor {}: type {} reached the reader", t.name, super::type_name(other)))),
                };
                out.insert(t.name.clone(), a);
            }
        }
    }
    Ok(out)
}
