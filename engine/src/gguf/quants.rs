//! ggml's block formats, re-packed as MLX affine quantization: groups of 32 weights
//! along a row, each `w = scale * q + bias` with `q` packed `bits` to a value into
//! little-endian u32 words (a bit stream: value `i` of a row at bit `bits * i`).
//!
//! | ggml type | block | as MLX | exact? |
//! | --- | --- | --- | --- |
//! | Q4_0, Q4_1 | 32: f16 d (and m), 4-bit q | 4 bits | yes: scale d, bias -8d or m |
//! | Q5_0, Q5_1 | 32: f16 d (and m), 5-bit q | 5 bits | yes: scale d, bias -16d or m |
//! | Q8_0 | 32: f16 d, int8 q | 8 bits | yes: scale d, bias -128d |
//! | Q4_K, Q5_K | 256: f16 d, dmin; 8 sub-blocks of 32 with 6-bit scale and min | 4, 5 bits | yes: scale d*sc, bias -dmin*m |
//! | Q6_K | 256: f16 d; 16 sub-blocks of 16 with int8 scale, 6-bit q | 8 bits | when a group's two sub-block scales share a divisor that brings both grids into 256 levels (equal scales always do); else rounded, within (max - min) / 510 of the group |
//!
//! "Exact" is before MLX stores scales and biases as float16 (one rounding of each,
//! relative 2^-11, as MLX's own GGUF loader does for Q4_0/Q4_1/Q8_0).

/// A ggml tensor type this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

impl Kind {
    /// The quantized ggml type with this id, if it is one of ours.
    pub fn of(ggml_type: u32) -> Option<Kind> {
        Some(match ggml_type {
            2 => Kind::Q4_0,
            3 => Kind::Q4_1,
            6 => Kind::Q5_0,
            7 => Kind::Q5_1,
            8 => Kind::Q8_0,
            12 => Kind::Q4K,
            13 => Kind::Q5K,
            14 => Kind::Q6K,
            _ => return None,
        })
    }

    /// Weights per block.
    pub fn block_weights(self) -> u64 {
        match self {
            Kind::Q4K | Kind::Q5K | Kind::Q6K => 256,
            _ => 32,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> u64 {
        match self {
            Kind::Q4_0 => 18,
            Kind::Q4_1 => 20,
            Kind::Q5_0 => 22,
            Kind::Q5_1 => 24,
            Kind::Q8_0 => 34,
            Kind::Q4K => 144,
            Kind::Q5K => 176,
            Kind::Q6K => 210,
        }
    }

    /// MLX bits per weight once re-packed.
    pub fn bits(self) -> u32 {
        match self {
            Kind::Q4_0 | Kind::Q4_1 | Kind::Q4K => 4,
            Kind::Q5_0 | Kind::Q5_1 | Kind::Q5K => 5,
            Kind::Q8_0 | Kind::Q6K => 8,
        }
    }
}

/// A tensor as MLX affine groups of 32: `words` (row-major, `cols * bits / 32` per row),
/// and a scale and bias per group.
#[derive(Debug, Clone, PartialEq)]
pub struct Affine {
    pub bits: u32,
    pub words: Vec<u32>,
    pub scales: Vec<f32>,
    pub biases: Vec<f32>,
}

fn f16(b: &[u8], at: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// One group of 32 as (scale, bias, q values).
type Group = (f32, f32, [u8; 32]);

/// Re-packs `data` (whole blocks, as the file holds them) as MLX groups of 32. The
/// caller has checked that `data` holds whole blocks.
pub fn to_affine(kind: Kind, data: &[u8]) -> Affine {
    let bits = kind.bits();
    let per = kind.block_bytes() as usize;
    let groups = data.len() / per * (kind.block_weights() as usize / 32);
    let mut out = Affine {
        bits,
        words: Vec::with_capacity(groups * bits as usize),
        scales: Vec::with_capacity(groups),
        biases: Vec::with_capacity(groups),
    };
    let mut push = |(scale, bias, q): Group| {
        out.scales.push(scale);
        out.biases.push(bias);
        pack(&q, bits, &mut out.words);
    };
    for b in data.chunks_exact(per) {
        match kind {
            Kind::Q4_0 | Kind::Q4_1 | Kind::Q5_0 | Kind::Q5_1 | Kind::Q8_0 => push(small_block(kind, b)),
            Kind::Q4K | Kind::Q5K => k_block(kind, b).into_iter().for_each(&mut push),
            Kind::Q6K => q6k_block(b).into_iter().for_each(&mut push),
        }
    }
    out
}

/// Appends 32 values of `bits` each to `words` as a little-endian bit stream.
fn pack(q: &[u8; 32], bits: u32, words: &mut Vec<u32>) {
    let mut acc: u64 = 0;
    let mut filled = 0;
    for &v in q {
        acc |= u64::from(v) << filled;
        filled += bits;
        while filled >= 32 {
            words.push(acc as u32);
            acc >>= 32;
            filled -= 32;
        }
    }
}

/// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0: one block is one group.
fn small_block(kind: Kind, b: &[u8]) -> Group {
    let d = f16(b, 0);
    let mut q = [0u8; 32];
    match kind {
        Kind::Q8_0 => {
            for (i, v) in q.iter_mut().enumerate() {
                *v = (b[2 + i] as i8 as i16 + 128) as u8;
            }
            (d, -128.0 * d, q)
        }
        _ => {
            let (min, high, lows) = match kind {
                Kind::Q4_0 => (None, None, &b[2..18]),
                Kind::Q4_1 => (Some(f16(b, 2)), None, &b[4..20]),
                Kind::Q5_0 => (None, Some(u32::from_le_bytes([b[2], b[3], b[4], b[5]])), &b[6..22]),
                _ => (Some(f16(b, 2)), Some(u32::from_le_bytes([b[4], b[5], b[6], b[7]])), &b[8..24]),
            };
            for j in 0..16 {
                let h = |bit: usize| high.map_or(0, |h| (((h >> bit) & 1) as u8) << 4);
                q[j] = (lows[j] & 0x0F) | h(j);
                q[j + 16] = (lows[j] >> 4) | h(j + 16);
            }
            let offset = if high.is_some() { -16.0 } else { -8.0 };
            (d, min.unwrap_or(offset * d), q)
        }
    }
}

/// The 6-bit scale and min of sub-block `j` (0..8) from a K block's 12 packed bytes.
fn scale_min(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 { (s[j] & 63, s[j + 4] & 63) } else { ((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)) }
}

/// Q4_K and Q5_K: 8 groups of 32, `w = d * sc * q - dmin * m`.
fn k_block(kind: Kind, b: &[u8]) -> [Group; 8] {
    let (d, dmin) = (f16(b, 0), f16(b, 2));
    let scales = &b[4..16];
    let (qh, qs) = if kind == Kind::Q5K { (Some(&b[16..48]), &b[48..176]) } else { (None, &b[16..144]) };
    std::array::from_fn(|j| {
        let (sc, m) = scale_min(j, scales);
        // 32 bytes of qs hold sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles)
        let (c, high_nibble) = (j / 2, j % 2 == 1);
        let mut q = [0u8; 32];
        for (l, v) in q.iter_mut().enumerate() {
            let byte = qs[32 * c + l];
            let low4 = if high_nibble { byte >> 4 } else { byte & 0x0F };
            let fifth = qh.map_or(0, |h| ((h[l] >> j) & 1) << 4);
            *v = low4 | fifth;
        }
        (d * f32::from(sc), -dmin * f32::from(m), q)
    })
}

/// Q6_K: 256 weights `d * sc[k] * (q - 32)` with a scale per 16, as 8 groups of 32 in
/// 8 bits: exact where the two scales of a group allow it, else rounded to nearest.
fn q6k_block(b: &[u8]) -> [Group; 8] {
    let (ql, qh, sc, d) = (&b[0..128], &b[128..192], &b[192..208], f16(b, 208));
    // the 6-bit values, signed, in order
    let mut q = [0i8; 256];
    for n in 0..2 {
        let (ql, qh) = (&ql[64 * n..], &qh[32 * n..]);
        for l in 0..32 {
            let at = 128 * n + l;
            q[at] = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i8 - 32;
            q[at + 32] = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            q[at + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            q[at + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
        }
    }
    std::array::from_fn(|g| {
        let (a, b2) = (sc[2 * g] as i8 as i32, sc[2 * g + 1] as i8 as i32);
        let ints: [i32; 32] = std::array::from_fn(|i| i32::from(q[32 * g + i]) * if i < 16 { a } else { b2 });
        requantize_8bit(d, &ints)
    })
}

fn gcd(a: i32, b: i32) -> i32 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// 32 weights `d * ints[i]` as one 8-bit group: exact when the integers, divided by
/// their common divisor, span at most 255; else rounded to nearest over their range.
fn requantize_8bit(d: f32, ints: &[i32; 32]) -> Group {
    let g = ints.iter().fold(0, |acc, &v| gcd(acc, v)).max(1);
    let (lo, hi) = (ints.iter().min().copied().unwrap_or(0), ints.iter().max().copied().unwrap_or(0));
    let mut q = [0u8; 32];
    if (hi - lo) / g <= 255 {
        for (v, &x) in q.iter_mut().zip(ints) {
            *v = ((x - lo) / g) as u8;
        }
        return (d * g as f32, d * lo as f32, q);
    }
    let (min, max) = (d * lo as f32, d * hi as f32);
    let (lo_w, span) = if d >= 0.0 { (min, max - min) } else { (max, min - max) };
    let scale = span / 255.0;
    for (v, &x) in q.iter_mut().zip(ints) {
        *v = (((d * x as f32 - lo_w) / scale).round()).clamp(0.0, 255.0) as u8;
    }
    (scale, lo_w, q)
}

/// The weights an [`Affine`] stands for, in plain Rust (the unit tests' side; the engine
/// leaves dequantization to MLX).
#[cfg(test)]
fn dequantize(a: &Affine) -> Vec<f32> {
    let mask = (1u64 << a.bits) - 1;
    let mut out = Vec::with_capacity(a.scales.len() * 32);
    let words_per_group = a.bits as usize; // 32 values * bits / 32
    for (g, (s, b)) in a.scales.iter().zip(&a.biases).enumerate() {
        let words = &a.words[g * words_per_group..(g + 1) * words_per_group];
        for i in 0..32 {
            let bit = i * a.bits as usize;
            let (w, off) = (bit / 32, bit % 32);
            let mut v = u64::from(words[w]) >> off;
            if off + a.bits as usize > 32 {
                v |= u64::from(words[w + 1]) << (32 - off);
            }
            out.push(s * (v & mask) as f32 + b);
        }
    }
    out
}

#[cfg(test)]
#[path = "quants_tests.rs"]
mod tests;
