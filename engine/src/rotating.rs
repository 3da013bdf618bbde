//! A sliding-window layer's keys and values, kept as mlx-lm's `RotatingKVCache` keeps
//! them (with `keep = 0`) so that attention sees the same keys in the same order, and the
//! mask mlx-lm makes for them: a prompt is appended in temporal order (earlier keys
//! trimmed to the window less one), a decoded token overwrites the oldest slot of a
//! buffer of `window` positions (attention over a rotated buffer needs no mask).

use mlx_rs::{Array, Stream, ops};

use crate::error::{Result, mlx_err};

/// mlx-lm grows the buffer 256 positions at a time until it holds the window.
const STEP: i32 = 256;

pub struct Rotating {
    k: Array,
    v: Array,
    /// The next slot to write.
    idx: i32,
}

impl Rotating {
    pub fn arrays(&self) -> [&Array; 2] {
        [&self.k, &self.v]
    }
}

fn positions(a: &Array, r: std::ops::Range<i32>, stream: &Stream) -> Result<Array> {
    crate::raw::slice_axis(a, 2, r, stream)
}

/// The buffer in temporal order, cut to what was written.
fn temporal(a: &Array, idx: i32, offset: i32, stream: &Stream) -> Result<Array> {
    let n = a.dim(2);
    if idx == n {
        Ok(a.clone())
    } else if idx < offset {
        ops::concatenate(&[&positions(a, idx..n, stream)?, &positions(a, 0..idx, stream)?], 2).map_err(mlx_err)
    } else {
        positions(a, 0..idx, stream)
    }
}

/// Appends `k`, `v` `[1, heads, S, dim]` written at position `offset` to layer slot
/// `slot` of a window of `window` positions; returns the keys and values attention sees.
pub fn update(slot: &mut Option<Rotating>, offset: i32, window: i32, k: Array, v: Array, stream: &Stream) -> Result<(Array, Array)> {
    let s = k.dim(2);
    if s > 1 {
        let (k, v) = match slot.take() {
            None => (k, v),
            Some(r) => {
                let (kt, vt) = (temporal(&r.k, r.idx, offset, stream)?, temporal(&r.v, r.idx, offset, stream)?);
                let trim = kt.dim(2) - window + 1;
                let cut = |t: Array| if trim > 0 { positions(&t, trim..t.dim(2), stream) } else { Ok(t) };
                let (kt, vt) = (cut(kt)?, cut(vt)?);
                (ops::concatenate(&[&kt, &k], 2).map_err(mlx_err)?, ops::concatenate(&[&vt, &v], 2).map_err(mlx_err)?)
            }
        };
        *slot = Some(Rotating { idx: k.dim(2), k: k.clone(), v: v.clone() });
        return Ok((k, v));
    }
    let (mut kb, mut vb, mut idx) = match slot.take() {
        Some(r) => (r.k, r.v, r.idx),
        None => {
            let zeros = |t: &Array| ops::zeros_dtype(&[t.dim(0), t.dim(1), 0, t.dim(3)], t.dtype()).map_err(mlx_err);
            (zeros(&k)?, zeros(&v)?, 0)
        }
    };
    if offset >= kb.dim(2) && kb.dim(2) < window {
        let grow = STEP.min(window - offset);
        let zeros = |t: &Array| ops::zeros_dtype(&[t.dim(0), t.dim(1), grow, t.dim(3)], t.dtype()).map_err(mlx_err);
        kb = ops::concatenate(&[&kb, &zeros(&k)?], 2).map_err(mlx_err)?;
        vb = ops::concatenate(&[&vb, &zeros(&v)?], 2).map_err(mlx_err)?;
        idx = offset;
    }
    let trim = kb.dim(2) - window;
    if trim > 0 {
        kb = positions(&kb, trim..kb.dim(2), stream)?;
        vb = positions(&vb, trim..vb.dim(2), stream)?;
        idx = window;
    }
    if idx == window {
        idx = 0;
    }
    let write = |buf: &Array, new: &Array| {
        let sh = new.shape();
        crate::raw::slice_update(buf, new, &[0, 0, idx, 0], &[sh[0], sh[1], idx + 1, sh[3]], stream)
    };
    let (kb, vb) = (write(&kb, &k)?, write(&vb, &v)?);
    let seen = offset + 1;
    let out =
        if seen < kb.dim(2) { (positions(&kb, 0..seen, stream)?, positions(&vb, 0..seen, stream)?) } else { (kb.clone(), vb.clone()) };
    *slot = Some(Rotating { k: kb, v: vb, idx: idx + 1 });
    Ok(out)
}

/// mlx-lm's mask for `n` new positions of a window layer whose cache holds `offset`
/// positions: none for one token, causal within the window when it matters (as a bool
/// array `[n, min(window - 1, offset) + n]`), else plain causal (`None` here too: the
/// caller passes "causal" for `n > 1`).
pub fn mask(n: i32, offset: i32, window: i32) -> Result<Option<Array>> {
    if n <= 1 {
        return Ok(None);
    }
    let off = (window - 1).min(offset);
    if off + n <= window {
        return Ok(None);
    }
    causal(n, off, Some(window)).map(Some)
}

/// mlx-lm's `create_causal_mask`: a bool `[n, offset + n]`, true where new position `r`
/// (at `offset + r`) may see key `c`: `c <= offset + r`, and within `window` of it.
pub fn causal(n: i32, offset: i32, window: Option<i32>) -> Result<Array> {
    let rows = ops::arange::<_, i32>(offset, offset + n, None).and_then(|r| r.reshape(&[n, 1])).map_err(mlx_err)?;
    let cols = ops::arange::<_, i32>(0, offset + n, None).and_then(|c| c.reshape(&[1, offset + n])).map_err(mlx_err)?;
    let mask = rows.ge(&cols).map_err(mlx_err)?;
    match window {
        Some(w) => {
            let within = rows.lt(&cols.add(Array::from_int(w)).map_err(mlx_err)?).map_err(mlx_err)?;
            mask.logical_and(&within).map_err(mlx_err)
        }
        None => Ok(mask),
    }
}
