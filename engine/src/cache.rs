//! The KV cache: keys and values of every layer so far.

use mlx_rs::{Array, Stream, ops};

use crate::error::{Result, mlx_err};

/// Keys and values of every layer so far, in buffers grown 256 positions at a time and
/// written in place, as mlx-lm's `KVCache` does (no copy of the whole history per token).
#[derive(Default)]
pub struct KvCache {
    pub(crate) layers: Vec<Option<(Array, Array)>>,
    /// Sliding-window layers' buffers (Gemma 3), kept as mlx-lm's RotatingKVCache.
    pub(crate) windows: Vec<Option<crate::rotating::Rotating>>,
    pub offset: i32,
}

const KV_STEP: i32 = 256;

impl KvCache {
    pub fn arrays(&self) -> Vec<&Array> {
        let windows = self.windows.iter().flatten().flat_map(|w| w.arrays());
        self.layers.iter().flatten().flat_map(|(k, v)| [k, v]).chain(windows).collect()
    }

    /// Stores `k`, `v` `[1, heads, L, dim]` at the current offset of layer `i`; returns
    /// the keys and values of every position so far. The caller advances `offset`.
    pub(crate) fn update(&mut self, i: usize, k: Array, v: Array, stream: &Stream) -> Result<(Array, Array)> {
        let prev = self.offset;
        let l = k.dim(2);
        let grow = |buf: Option<&Array>, new: &Array| -> Result<Array> {
            let shape = new.shape();
            let steps = (KV_STEP + l - 1) / KV_STEP;
            let zeros = ops::zeros_dtype(&[shape[0], shape[1], steps * KV_STEP, shape[3]], new.dtype()).map_err(mlx_err)?;
            match buf {
                None => Ok(zeros),
                Some(b) => {
                    let b = if prev % KV_STEP != 0 { crate::raw::slice_axis(b, 2, 0..prev, stream)? } else { b.clone() };
                    ops::concatenate(&[&b, &zeros], 2).map_err(mlx_err)
                }
            }
        };
        let (kb, vb) = match self.layers[i].take() {
            Some((kb, vb)) if prev + l <= kb.dim(2) => (kb, vb),
            old => {
                let (ok, ov) = match &old {
                    Some((a, b)) => (Some(a), Some(b)),
                    None => (None, None),
                };
                (grow(ok, &k)?, grow(ov, &v)?)
            }
        };
        // one SliceUpdate node each (mlx-rs's indexed assignment adds two reshapes)
        let write = |buf: &Array, new: &Array| {
            let s = new.shape();
            crate::raw::slice_update(buf, new, &[0, 0, prev, 0], &[s[0], s[1], prev + l, s[3]], stream)
        };
        let (kb, vb) = (write(&kb, &k)?, write(&vb, &v)?);
        let keys = crate::raw::slice_axis(&kb, 2, 0..prev + l, stream)?;
        let values = crate::raw::slice_axis(&vb, 2, 0..prev + l, stream)?;
        self.layers[i] = Some((kb, vb));
        Ok((keys, values))
    }
}
