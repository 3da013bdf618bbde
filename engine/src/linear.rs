//! Linear maps and the weights they are read from: dense or MLX affine-quantized
//! projections, and groups of projections of the same input stacked into one matmul.
//!
//! Both are about host work per decode step. On an accelerator a small model's step is
//! bound by how many operations the host records and launches, not by the device
//! (`docs/engine.md`, "Host work per step"): a dense weight is kept already transposed
//! (an evaluated view, so the step's graph has no transpose node per projection), and
//! q/k/v and gate/up are one matmul each over weights whose rows were concatenated at
//! load (one kernel where there were three and two), split afterwards by views.

use std::collections::HashMap;

use mlx_rs::{Array, Stream, ops};

use super::config::ModelConfig;
use crate::error::{Error, Result, mlx_err};

/// A linear map: dense `x @ W^T (+ b)` or MLX affine-quantized.
pub enum Linear {
    /// `w` `[out, in]` as stored (embedding rows read it), `wt` its transposed view.
    Dense {
        w: Array,
        wt: Array,
        b: Option<Array>,
    },
    Quant {
        w: Array,
        scales: Array,
        biases: Array,
        b: Option<Array>,
        group_size: i32,
        bits: i32,
    },
}

impl Linear {
    fn dense(w: Array, b: Option<Array>) -> Result<Linear> {
        let wt = w.t();
        Ok(Linear::Dense { w, wt, b })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let (y, b) = match self {
            Linear::Dense { wt, b, .. } => (x.matmul(wt).map_err(mlx_err)?, b),
            Linear::Quant { w, scales, biases, b, group_size, bits } => {
                (ops::quantized_matmul(x, w, scales, Some(biases), true, *group_size, *bits).map_err(mlx_err)?, b)
            }
        };
        match b {
            Some(b) => y.add(b).map_err(mlx_err),
            None => Ok(y),
        }
    }

    /// Rows of an embedding table (dequantized when quantized).
    pub fn rows(&self, ids: &Array) -> Result<Array> {
        match self {
            Linear::Dense { w, .. } => w.take_axis(ids, 0).map_err(mlx_err),
            Linear::Quant { w, scales, biases, group_size, bits, .. } => {
                let w = w.take_axis(ids, 0).map_err(mlx_err)?;
                let s = scales.take_axis(ids, 0).map_err(mlx_err)?;
                let b = biases.take_axis(ids, 0).map_err(mlx_err)?;
                ops::dequantize(&w, &s, &b, *group_size, *bits).map_err(mlx_err)
            }
        }
    }

    /// Output rows (the embedding's vocabulary size).
    pub fn out_rows(&self) -> i32 {
        match self {
            Linear::Dense { w, .. } | Linear::Quant { w, .. } => w.shape().first().copied().unwrap_or(0),
        }
    }

    /// Input columns (a quantized weight packs `bits` per value into u32 words: 32 words
    /// hold 32 * 32 / bits values, which is whole for 3, 5 and 6 bits too).
    pub fn in_cols(&self) -> i32 {
        match self {
            Linear::Dense { w, .. } => w.shape().get(1).copied().unwrap_or(0),
            Linear::Quant { w, bits, .. } => w.shape().get(1).copied().unwrap_or(0).saturating_mul(32) / (*bits).max(1),
        }
    }

    /// An error naming the tensor unless its `[out, in]` is what the config implies
    /// (`out: None` when the config does not say).
    pub fn expect(&self, path: &str, out: Option<i32>, cols: i32) -> Result<()> {
        let (o, i) = (self.out_rows(), self.in_cols());
        if out.is_some_and(|x| x != o) || i != cols {
            let out = out.map_or("?".to_string(), |x| x.to_string());
            return Err(Error::Model(format!("weights: tensor {path}.weight is [{o}, {i}] where config.json implies [{out}, {cols}]")));
        }
        Ok(())
    }

    pub fn arrays(&self) -> Vec<&Array> {
        match self {
            Linear::Dense { w, wt, b } => [w, wt].into_iter().chain(b.iter()).collect(),
            Linear::Quant { w, scales, biases, b, .. } => [w, scales, biases].into_iter().chain(b.iter()).collect(),
        }
    }

    /// One linear map whose output is the outputs of `parts`, in order: their rows
    /// concatenated. `None` when they cannot be (dense and quantized mixed, different
    /// quantization, dtypes, or biases on some only). Each output row is the same dot
    /// product over the same input as before, so the values do not change.
    fn stack(parts: &[Linear]) -> Result<Option<Linear>> {
        if parts.len() < 2 {
            return Ok(None);
        }
        let cat = |v: Vec<&Array>| ops::concatenate(&v, 0).map_err(mlx_err);
        let same_dtype = |v: &[&Array]| v.windows(2).all(|w| w[0].dtype() == w[1].dtype());
        let biases: Vec<&Array> = parts
            .iter()
            .filter_map(|p| match p {
                Linear::Dense { b, .. } | Linear::Quant { b, .. } => b.as_ref(),
            })
            .collect();
        if !biases.is_empty() && (biases.len() != parts.len() || !same_dtype(&biases)) {
            return Ok(None);
        }
        let b = if biases.is_empty() { None } else { Some(cat(biases)?) };
        let dense: Vec<&Array> = parts.iter().filter_map(|p| if let Linear::Dense { w, .. } = p { Some(w) } else { None }).collect();
        if dense.len() == parts.len() {
            return if same_dtype(&dense) { Ok(Some(Linear::dense(cat(dense)?, b)?)) } else { Ok(None) };
        }
        let mut quant = Vec::new();
        for p in parts {
            match p {
                Linear::Quant { w, scales, biases, group_size, bits, .. } => quant.push((w, scales, biases, *group_size, *bits)),
                Linear::Dense { .. } => return Ok(None),
            }
        }
        let (_, _, _, group_size, bits) = quant[0];
        let scales: Vec<&Array> = quant.iter().map(|q| q.1).collect();
        let qb: Vec<&Array> = quant.iter().map(|q| q.2).collect();
        if quant.iter().any(|q| (q.3, q.4) != (group_size, bits)) || !same_dtype(&scales) || !same_dtype(&qb) {
            return Ok(None);
        }
        let w = cat(quant.iter().map(|q| q.0).collect())?;
        Ok(Some(Linear::Quant { w, scales: cat(scales)?, biases: cat(qb)?, b, group_size, bits }))
    }
}

/// Projections of one input: stacked into one matmul when their weights allow it, else
/// one matmul each (also under `MLXBENCH_NO_COMPILE=1`, the plain step).
pub struct Group {
    /// Each part's output width.
    widths: Vec<i32>,
    maps: Maps,
}

enum Maps {
    Stacked(Linear),
    Each(Vec<Linear>),
}

impl Group {
    /// `widths`: each part's output rows as the config implies them; weights of other
    /// sizes are an error here rather than wrong slices later.
    pub fn new(parts: Vec<Linear>, widths: Vec<i32>, stack: bool) -> Result<Group> {
        let rows: Vec<i32> = parts.iter().map(Linear::out_rows).collect();
        if rows != widths {
            return Err(Error::Model(format!("weights: projections have {rows:?} output rows where config.json implies {widths:?}")));
        }
        let maps = match stack.then(|| Linear::stack(&parts)).transpose()?.flatten() {
            Some(s) => Maps::Stacked(s),
            None => Maps::Each(parts),
        };
        Ok(Group { widths, maps })
    }

    /// Each part's range along the stacked product's split axis, in `unit`s.
    fn ranges(&self, unit: i32) -> impl Iterator<Item = std::ops::Range<i32>> + '_ {
        self.widths.iter().scan(0, move |at, w| {
            let start = *at;
            *at += w / unit;
            Some(start..*at)
        })
    }

    /// Each projection of `x` `[1, L, in]`, shaped `[1, L, width / unit, unit]`. Stacked,
    /// the parts are slices of one product along its third axis: views, not copies.
    pub fn forward(&self, x: &Array, unit: i32, stream: &Stream) -> Result<Vec<Array>> {
        match &self.maps {
            Maps::Each(parts) => parts.iter().map(|p| product(p, x, unit)).collect(),
            Maps::Stacked(p) => {
                let y = product(p, x, unit)?;
                self.ranges(unit).map(|r| crate::raw::slice_axis(&y, 2, r, stream)).collect()
            }
        }
    }

    /// Each projection of `x` `[1, L, in]` as `[1, L, width]`. Stacked, the parts are
    /// slices of one product along its last axis: views, and no reshape nodes.
    pub fn split(&self, x: &Array, stream: &Stream) -> Result<Vec<Array>> {
        match &self.maps {
            Maps::Each(parts) => parts.iter().map(|p| p.forward(x)).collect(),
            Maps::Stacked(p) => {
                let y = p.forward(x)?;
                self.ranges(1).map(|r| crate::raw::slice_axis(&y, 2, r, stream)).collect()
            }
        }
    }

    /// Stacked: the whole product `[1, L, total / unit, unit]`, for a caller that treats
    /// neighbouring parts as one (one RoPE over q and k); `None` when kept apart.
    pub fn joint(&self, x: &Array, unit: i32) -> Result<Option<Array>> {
        match &self.maps {
            Maps::Stacked(p) => product(p, x, unit).map(Some),
            Maps::Each(_) => Ok(None),
        }
    }

    pub fn stacked(&self) -> bool {
        matches!(self.maps, Maps::Stacked(_))
    }

    pub fn arrays(&self) -> Vec<&Array> {
        match &self.maps {
            Maps::Stacked(p) => p.arrays(),
            Maps::Each(parts) => parts.iter().flat_map(Linear::arrays).collect(),
        }
    }
}

/// `p(x)` for `x` `[1, L, in]`, viewed as `[1, L, out / unit, unit]`.
fn product(p: &Linear, x: &Array, unit: i32) -> Result<Array> {
    p.forward(x)?.reshape(&[1, x.dim(1), -1, unit]).map_err(mlx_err)
}

/// Takes named tensors out of the loaded weight map.
pub struct Weights {
    pub map: HashMap<String, Array>,
}

impl Weights {
    pub fn take(&mut self, name: &str) -> Result<Array> {
        self.map.remove(name).ok_or_else(|| Error::Model(format!("weights: tensor {name} is missing")))
    }

    /// An RMS norm's weight that a model may lack (q/k norms), as [`Weights::norm`].
    pub fn optional_norm(&mut self, config: &ModelConfig, name: &str) -> Result<Option<Array>> {
        if self.map.contains_key(name) { self.norm(config, name).map(Some) } else { Ok(None) }
    }

    /// An RMS norm's weight; Gemma 2 stores `weight - 1` (its norms scale by `1 + weight`).
    pub fn norm(&mut self, config: &ModelConfig, name: &str) -> Result<Array> {
        let w = self.take(name)?;
        if config.gemma().is_none() {
            return Ok(w);
        }
        Array::from_f32(1.0).as_dtype(w.dtype()).and_then(|one| one.add(&w)).map_err(mlx_err)
    }

    pub fn linear(&mut self, config: &ModelConfig, path: &str) -> Result<Linear> {
        let w = self.take(&format!("{path}.weight"))?;
        let b = self.map.remove(&format!("{path}.bias"));
        match self.quantized(config, path)? {
            None => Linear::dense(w, b),
            Some(Quantized { scales, biases, group_size, bits }) => Ok(Linear::Quant { w, scales, biases, b, group_size, bits }),
        }
    }

    /// The scales and biases of the module at `path` and its (group size, bits), when
    /// its weight is MLX-quantized; checked against what MLX supports.
    pub fn quantized(&mut self, config: &ModelConfig, path: &str) -> Result<Option<Quantized>> {
        let Some(scales) = self.map.remove(&format!("{path}.scales")) else { return Ok(None) };
        let biases = self.take(&format!("{path}.biases"))?;
        let (group_size, bits) = config
            .quantization_for(path)
            .ok_or_else(|| Error::Model(format!("weights: {path} is quantized but config.json has no `quantization`")))?;
        if ![2, 3, 4, 5, 6, 8].contains(&bits) || ![32, 64, 128].contains(&group_size) {
            return Err(Error::Model(format!("unsupported quantization of {path}: {bits} bits, group size {group_size}")));
        }
        Ok(Some(Quantized { scales, biases, group_size, bits }))
    }
}

/// An MLX-quantized weight's scales, biases and layout.
pub struct Quantized {
    pub scales: Array,
    pub biases: Array,
    pub group_size: i32,
    pub bits: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(shape: &[i32], key: u64) -> Array {
        let k = mlx_rs::random::key(key).unwrap();
        mlx_rs::random::normal::<f32>(shape, None, None, &k).unwrap()
    }

    fn same(a: &Array, b: &Array) -> bool {
        a.shape() == b.shape() && a.eq_values(b).unwrap()
    }

    fn quant(w: &Array) -> Linear {
        let (w, scales, biases) = ops::quantize(w, 64, 4).unwrap();
        Linear::Quant { w, scales, biases, b: None, group_size: 64, bits: 4 }
    }

    /// Stacked projections give exactly the values of separate ones (dense with biases,
    /// and quantized), as views of the right widths.
    #[test]
    fn stacked_projections_equal_separate_ones() {
        let x = rand(&[1, 3, 128], 1);
        let dense = |i: u64, out: i32| Linear::dense(rand(&[out, 128], 10 + i), Some(rand(&[out], 20 + i))).unwrap();
        let widths = vec![64, 32, 32];
        let make = |stack: bool| Group::new(vec![dense(0, 64), dense(1, 32), dense(2, 32)], widths.clone(), stack).unwrap();
        let (s, e) = (make(true), make(false));
        assert!(s.stacked() && !e.stacked());
        let st = Stream::thread_local_or_default();
        let (a, b) = (s.forward(&x, 16, &st).unwrap(), e.forward(&x, 16, &st).unwrap());
        assert_eq!(a.len(), 3);
        for (a, b) in a.iter().zip(&b) {
            assert!(same(a, b), "{:?} vs {:?}", a.shape(), b.shape());
        }
        assert_eq!(a[1].shape(), &[1, 3, 2, 16]);
        // split along the last axis: the same values, shaped [1, L, width]
        let (a, b) = (s.split(&x, &st).unwrap(), e.split(&x, &st).unwrap());
        assert_eq!(a.iter().map(|a| a.shape().to_vec()).collect::<Vec<_>>(), vec![vec![1, 3, 64], vec![1, 3, 32], vec![1, 3, 32]]);
        for (a, b) in a.iter().zip(&b) {
            assert!(same(a, b));
        }
        let ws = [rand(&[256, 128], 30), rand(&[256, 128], 31)];
        let q = |stack: bool| Group::new(ws.iter().map(quant).collect(), vec![256, 256], stack).unwrap();
        let (s, e) = (q(true), q(false));
        assert!(s.stacked());
        for (a, b) in s.forward(&x, 256, &st).unwrap().iter().zip(&e.forward(&x, 256, &st).unwrap()) {
            assert!(same(a, b));
        }
    }

    /// Projections that cannot share one matmul stay apart: dense beside quantized,
    /// different quantization, a bias on one only.
    #[test]
    fn mixed_projections_are_not_stacked() {
        let w = rand(&[64, 128], 3);
        let dense = |b: Option<Array>| Linear::dense(w.clone(), b).unwrap();
        assert!(!Group::new(vec![dense(None), quant(&w)], vec![64, 64], true).unwrap().stacked());
        assert!(!Group::new(vec![dense(Some(rand(&[64], 4))), dense(None)], vec![64, 64], true).unwrap().stacked());
        let (qw, scales, biases) = ops::quantize(&w, 32, 8).unwrap();
        let q8 = Linear::Quant { w: qw, scales, biases, b: None, group_size: 32, bits: 8 };
        assert!(!Group::new(vec![quant(&w), q8], vec![64, 64], true).unwrap().stacked());
        assert!(Group::new(vec![dense(None), dense(None)], vec![64, 64], true).unwrap().stacked());
        let e = Group::new(vec![dense(None), dense(None)], vec![64, 32], true).err().unwrap().to_string();
        assert!(e.contains("[64, 64] output rows where config.json implies [64, 32]"), "{e}");
    }
}
