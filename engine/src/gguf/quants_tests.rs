//! Unit tests of the block re-packing: hand-made blocks against llama.cpp's formulas.

use super::*;

fn f16_bytes(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_bits().to_le_bytes()
}

#[test]
fn packing_is_a_little_endian_bit_stream_for_every_width() {
    for bits in [4u32, 5, 8] {
        let q: [u8; 32] = std::array::from_fn(|i| (i as u8 * 7 + 3) & ((1 << bits) - 1) as u8);
        let mut words = Vec::new();
        pack(&q, bits, &mut words);
        assert_eq!(words.len(), bits as usize);
        let a = Affine { bits, words, scales: vec![1.0], biases: vec![0.0] };
        let back: Vec<u8> = dequantize(&a).into_iter().map(|v| v as u8).collect();
        assert_eq!(back, q, "{bits} bits");
    }
}

#[test]
fn q4_0_q5_0_and_q8_0_blocks_decode_as_llama_cpp_does() {
    // Q4_0: d = 0.5, nibbles j and j + 16 in byte j
    let mut b = f16_bytes(0.5).to_vec();
    b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let w = dequantize(&to_affine(Kind::Q4_0, &b));
    assert_eq!((w[0], w[1], w[16], w[31]), (0.5 * -8.0, 0.5 * -7.0, 0.5 * 7.0, 0.5 * -8.0));
    // Q5_0: the fifth bit of value j is bit j of qh
    let mut b = f16_bytes(0.25).to_vec();
    b.extend(0x8000_0001u32.to_le_bytes());
    b.extend([0u8; 16]);
    let w = dequantize(&to_affine(Kind::Q5_0, &b));
    assert_eq!((w[0], w[1], w[31]), (0.25 * 0.0, 0.25 * -16.0, 0.25 * 0.0));
    // Q8_0: signed bytes
    let mut b = f16_bytes(2.0).to_vec();
    b.extend((0..32).map(|i| (i as i8 - 16) as u8));
    let w = dequantize(&to_affine(Kind::Q8_0, &b));
    assert_eq!((w[0], w[16], w[31]), (-32.0, 0.0, 30.0));
}

/// A Q4_K block: sub-block scales and mins from the 12 packed bytes (the upper four
/// sub-blocks borrow the top bits of the first eight bytes), nibbles low then high.
#[test]
fn q4_k_scales_mins_and_nibbles() {
    let mut b = Vec::new();
    b.extend(f16_bytes(0.5));
    b.extend(f16_bytes(0.25));
    // sub-block 0: sc 3, m 5; sub-block 4: sc (s[8] & 15) | (s[0] >> 6) << 4, m (s[8] >> 4) | (s[4] >> 6) << 4
    let mut s = [0u8; 12];
    s[0] = 3 | (1 << 6);
    s[4] = 5 | (2 << 6);
    s[8] = 0x21;
    b.extend(s);
    let mut qs = [0u8; 128];
    qs[0] = 0x9 | (0x4 << 4); // sub-block 0 value 0 = 9, sub-block 1 value 0 = 4
    qs[64] = 0x7; // sub-block 4 value 0 = 7
    b.extend(qs);
    let a = to_affine(Kind::Q4K, &b);
    let w = dequantize(&a);
    assert_eq!(w[0], 0.5 * 3.0 * 9.0 - 0.25 * 5.0);
    assert_eq!(w[32], 0.0, "sub-block 1 has scale 0 and min 0");
    let (sc4, m4) = ((0x21 & 15) | (1 << 4), (0x21 >> 4) | (2 << 4));
    assert_eq!(w[128], 0.5 * sc4 as f32 * 7.0 - 0.25 * m4 as f32);
}

/// Q6_K: equal sub-block scales re-pack exactly; scales 1 and 127 cannot, and are
/// rounded within (max - min) / 510.
#[test]
fn q6_k_exact_where_it_can_be_and_bounded_where_not() {
    let block = |sc: [i8; 16]| {
        let mut b = Vec::new();
        b.extend((0..128).map(|i| (i * 37 % 256) as u8));
        b.extend((0..64).map(|i| (i * 91 % 256) as u8));
        b.extend(sc.iter().map(|s| *s as u8));
        b.extend(f16_bytes(0.01));
        b
    };
    let reference = |b: &[u8]| -> Vec<f32> {
        // llama.cpp's dequantize_row_q6_K, written out
        let (ql, qh, sc, d) = (&b[..128], &b[128..192], &b[192..208], half::f16::from_le_bytes([b[208], b[209]]).to_f32());
        let mut y = vec![0f32; 256];
        for n in 0..2 {
            for l in 0..32 {
                let is = l / 16;
                let (ql, qh, sc) = (&ql[64 * n..], &qh[32 * n..], &sc[8 * n..]);
                let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                let s = |k: usize| sc[is + k] as i8 as f32 * d;
                y[128 * n + l] = s(0) * q1 as f32;
                y[128 * n + l + 32] = s(2) * q2 as f32;
                y[128 * n + l + 64] = s(4) * q3 as f32;
                y[128 * n + l + 96] = s(6) * q4 as f32;
            }
        }
        y
    };
    let even = block([-5; 16]);
    let (got, want) = (dequantize(&to_affine(Kind::Q6K, &even)), reference(&even));
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-6 * w.abs().max(1e-3), "{g} vs {w}");
    }
    let uneven = block([1, 127, -3, 90, 2, 2, 64, -128, 1, 127, -3, 90, 2, 2, 64, -128]);
    let (got, want) = (dequantize(&to_affine(Kind::Q6K, &uneven)), reference(&uneven));
    for g in 0..8 {
        let part = &want[32 * g..32 * (g + 1)];
        let span = part.iter().cloned().fold(f32::MIN, f32::max) - part.iter().cloned().fold(f32::MAX, f32::min);
        for i in 32 * g..32 * (g + 1) {
            assert!((got[i] - want[i]).abs() <= span / 510.0 * 1.0001 + 1e-6, "group {g}: {} vs {}", got[i], want[i]);
        }
    }
}
