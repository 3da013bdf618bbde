//! Property tests on arbitrary bytes: the SSE and NDJSON framers, the backends' wires and
//! the result-file loader never panic, split points never change what is framed, and
//! what a framer holds is bounded by what it was given (3x for SSE, whose invalid
//! UTF-8 bytes become U+FFFD).

use std::time::Instant;

use mlxbench::backend::streaming::{NdjsonWire, SseWire, Wire};
use mlxbench::backend::{ollama, openai};
use mlxbench::measure::sample::StreamRecord;
use mlxbench::stream::{NdjsonFramer, SseFramer, SseItem};
use proptest::prelude::*;

/// Bytes that look like streams often enough to reach the interesting paths.
fn streamish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b": ping\n".to_vec()),
        Just(b"event: error\n".to_vec()),
        Just(b"{\"choices\":[{\"text\":\"a\"}]}".to_vec()),
        Just(b"{\"response\":\"a\",\"done\":false}".to_vec()),
        Just(b"{\"done\":true,\"eval_count\":18446744073709551615}".to_vec()),
        Just(b"[DONE]".to_vec()),
        prop::collection::vec(any::<u8>(), 0..16),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn sse_items(chunks: &[&[u8]]) -> (Vec<SseItem>, usize) {
    let mut f = SseFramer::new();
    let mut got = Vec::new();
    let mut most = 0;
    for c in chunks {
        f.push(c, |i| got.push(i));
        most = most.max(f.pending_len());
    }
    got.extend(f.finish());
    (got, most)
}

fn ndjson_lines(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, usize) {
    let mut f = NdjsonFramer::new();
    let mut got = Vec::new();
    let mut most = 0;
    for c in chunks {
        f.push(c, |l| got.push(l.to_vec()));
        most = most.max(f.pending_len());
    }
    got.extend(f.finish());
    (got, most)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn framers_do_not_care_where_chunks_split(bytes in streamish(), a in 0usize..400, b in 0usize..400) {
        let (i, j) = (a.min(bytes.len()), b.min(bytes.len()));
        let (i, j) = (i.min(j), i.max(j));
        let parts: [&[u8]; 3] = [&bytes[..i], &bytes[i..j], &bytes[j..]];
        let (whole, held) = sse_items(&[&bytes]);
        let (split, held_split) = sse_items(&parts);
        prop_assert_eq!(whole, split);
        // invalid UTF-8 in SSE data becomes U+FFFD (3 bytes for 1): at most 3x the input
        prop_assert!(held <= 3 * bytes.len() && held_split <= 3 * bytes.len());
        let (whole, held) = ndjson_lines(&[&bytes]);
        let (split, _) = ndjson_lines(&parts);
        prop_assert_eq!(whole, split);
        prop_assert!(held <= bytes.len());
    }

    #[test]
    fn wires_turn_any_bytes_into_records_or_reasons(bytes in streamish(), cut in 1usize..64) {
        let t = Instant::now();
        let mut rec = StreamRecord::new(t);
        let mut sse = SseWire::new(openai::handle_event);
        for c in bytes.chunks(cut) {
            if sse.push(c, t, &mut rec).is_err() { break; }
        }
        let _ = sse.finish(t, &mut rec);
        let mut rec = StreamRecord::new(t);
        let mut nd = NdjsonWire::new(ollama::handle_line);
        for c in bytes.chunks(cut) {
            if nd.push(c, t, &mut rec).is_err() { break; }
        }
        let _ = nd.finish(t, &mut rec);
    }

    #[test]
    fn the_result_loader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048), prefix in 0usize..3) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        // arbitrary bytes, or arbitrary bytes after a plausible start
        let heads: [&[u8]; 3] = [b"", b"{\"schema_version\":1,", b"{\"schema_version\":1,\"cases\":[{"];
        let mut data = heads[prefix].to_vec();
        data.extend_from_slice(&bytes);
        std::fs::write(&p, &data).unwrap();
        let _ = mlxbench::results::load_result(&p);
    }
}
