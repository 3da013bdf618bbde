//! Tests of header.rs: truncation, bad lengths, skipped and capped arrays, bad tensors.

use super::*;

#[test]
fn garbage_and_truncation_are_errors() {
    assert!(Gguf::parse(b"nope", 4).is_err_and(|e| e.to_string().contains("bad magic")));
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    assert!(Gguf::parse(&b, b.len() as u64).is_err_and(|e| e.to_string().contains("truncated")));
}

/// A header with the given metadata entries (already encoded after their key) and
/// tensors (name, dims).
fn header(meta: &[(&str, Vec<u8>)], tensors: &[(&str, &[u64])]) -> Vec<u8> {
    let s = |b: &mut Vec<u8>, t: &str| {
        b.extend((t.len() as u64).to_le_bytes());
        b.extend(t.as_bytes());
    };
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((meta.len() as u64).to_le_bytes());
    for (k, v) in meta {
        s(&mut b, k);
        b.extend(v);
    }
    for (name, dims) in tensors {
        s(&mut b, name);
        b.extend((dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| b.extend(d.to_le_bytes()));
        b.extend(0u32.to_le_bytes()); // F32
        b.extend(0u64.to_le_bytes());
    }
    b
}

/// An array value: element type, count, then `body`.
fn array(t: u32, count: u64, body: &[u8]) -> Vec<u8> {
    let mut v = 9u32.to_le_bytes().to_vec();
    v.extend(t.to_le_bytes());
    v.extend(count.to_le_bytes());
    v.extend(body);
    v
}

#[test]
fn bad_lengths_unread_arrays_and_bad_tensors_are_bounded_and_named() {
    // a string length past the end of the file: an error at once, naming the key
    let mut bad = 8u32.to_le_bytes().to_vec();
    bad.extend(1_000_000u64.to_le_bytes());
    let b = header(&[("general.name", bad)], &[]);
    let e = Gguf::parse(&b, b.len() as u64).err().unwrap().to_string();
    assert!(e.contains("metadata general.name") && e.contains("runs past the end of the file"), "{e}");
    // an array nobody reads is skipped (kept empty); a kept one is kept
    let strings: Vec<u8> =
        ["a", "bc"].iter().flat_map(|t| [(t.len() as u64).to_le_bytes().to_vec(), t.as_bytes().to_vec()].concat()).collect();
    let b = header(
        &[("junk", array(5, 3, &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0])), ("tokenizer.ggml.tokens", array(8, 2, &strings))],
        &[("w", &[4, 2])],
    );
    let g = Gguf::parse(&b, b.len() as u64).unwrap();
    assert!(matches!(g.meta.get("junk"), Some(Meta::Arr(a)) if a.is_empty()));
    assert_eq!(g.tokens().unwrap().iter().filter_map(Meta::as_str).collect::<Vec<_>>(), ["a", "bc"]);
    // a kept array longer than the cap is refused before anything is kept for it
    let b = header(&[("tokenizer.ggml.token_type", array(0, MAX_ARRAY as u64 + 1, &vec![1u8; MAX_ARRAY + 1]))], &[]);
    let e = Gguf::parse(&b, b.len() as u64).err().unwrap().to_string();
    assert!(e.contains("tokenizer.ggml.token_type") && e.contains("at most 4194304"), "{e}");
    // tensors: listed twice, or with a zero dimension, named
    let b = header(&[], &[("blk.0.attn_q.weight", &[4, 4]), ("blk.0.attn_q.weight", &[4, 4])]);
    let e = Gguf::parse(&b, b.len() as u64 + 64).err().unwrap().to_string();
    assert_eq!(e, "tensor blk.0.attn_q.weight: listed twice");
    let b = header(&[], &[("blk.0.attn_k.weight", &[4, 0])]);
    let e = Gguf::parse(&b, b.len() as u64 + 64).err().unwrap().to_string();
    assert!(e.starts_with("tensor blk.0.attn_k.weight: a dimension of size 0"), "{e}");
    // counts no real model has are refused before any is read
    let mut b = header(&[], &[]);
    b[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(Gguf::parse(&b, 1 << 41).is_err_and(|e| e.to_string().contains("at most 65536")));
}
