//! Generation: prefill (all prompt tokens but the last, as mlx-lm does, in chunks), then
//! one token per step, with the next step's graph built and queued (`async_eval`) before
//! the current token is read, so graph construction overlaps computation. Every token is
//! timestamped the moment its value is available.

use std::time::Instant;

use mlx_rs::{Array, ops, random, transforms};

use super::model::{KvCache, Model};
use super::tokenizer::{Detokenizer, Tokenizer};
use super::{EngineError, ms};
use crate::error::{self, mlx_err};

/// Sampling and stopping.
#[derive(Debug, Clone)]
pub struct Sampling {
    pub max_tokens: u32,
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub seed: u64,
    pub ignore_eos: bool,
}

/// Samples as mlx-lm's default sampler does: greedy at temperature 0; otherwise top-p
/// applied to the model's own distribution first, then a categorical draw from the
/// log-probabilities divided by the temperature.
fn sample(logits: &Array, s: &Sampling) -> error::Result<Array> {
    let mut logprobs = logits.subtract(ops::logsumexp_axis(logits, -1, true).map_err(mlx_err)?).map_err(mlx_err)?;
    // greedy at 0, and where 1/temperature is no float32 (1e-300, NaN): that is the
    // limit sampling tends to as the temperature falls, where the scaled log-probabilities
    // would be infinities and NaN and the draw random
    let scale = (1.0 / s.temperature) as f32;
    if s.temperature <= 0.0 || !scale.is_finite() {
        return ops::indexing::argmax_axis(&logprobs, -1, None).map_err(mlx_err);
    }
    if let Some(p) = s.top_p.filter(|p| *p > 0.0 && *p < 1.0) {
        logprobs = top_p(&logprobs, p as f32)?;
    }
    let scaled = logprobs.multiply(Array::from_f32(scale)).map_err(mlx_err)?;
    random::categorical(&scaled, -1, None, None).map_err(mlx_err)
}

/// Keeps the most probable tokens whose mass reaches `p` (at least one): every token
/// whose log-probability is below the threshold so found becomes impossible.
fn top_p(logprobs: &Array, p: f32) -> error::Result<Array> {
    use ops::indexing::TryIndexOp;
    let sorted = ops::sort_axis(logprobs, -1).map_err(mlx_err)?; // ascending
    let probs = sorted.as_dtype(mlx_rs::Dtype::Float32).and_then(|x| x.exp()).map_err(mlx_err)?;
    // mass strictly above each position (of the more probable tokens)
    let above = probs.cumsum(-1, true, false).map_err(mlx_err)?;
    let total = above.try_index((.., 0..1)).and_then(|a| a.add(probs.try_index((.., 0..1))?)).map_err(mlx_err)?;
    let dropped = above
        .ge(total.multiply(Array::from_f32(p)).map_err(mlx_err)?)
        .and_then(|d| d.sum_axis(-1, true))
        .and_then(|d| d.as_dtype(mlx_rs::Dtype::Int32))
        .map_err(mlx_err)?;
    let threshold = sorted.take_along_axis(&dropped, -1).map_err(mlx_err)?;
    let below = logprobs.lt(&threshold).map_err(mlx_err)?;
    ops::select(&below, Array::from_f32(f32::NEG_INFINITY), logprobs).map_err(mlx_err)
}

/// One decoding step: logits of the last position for `ids` `[1, L]`, then a token.
fn step(model: &Model, ids: &Array, cache: &mut KvCache, s: &Sampling) -> error::Result<Array> {
    let logits = model.forward(ids, cache)?;
    let l = logits.dim(1);
    // one position (every decode step): a reshape is a view, where a gather is a kernel
    let last =
        if l == 1 { logits.reshape(&[1, -1]).map_err(mlx_err)? } else { logits.take_axis(Array::from_int(l - 1), 1).map_err(mlx_err)? };
    sample(&last, s)
}

/// Decode rate from token read times: (tokens - 1) / (last read - first read), the same
/// definition as every other decode rate mlxbench reports; `None` under two tokens.
pub fn token_rate(times: &[Instant]) -> Option<f64> {
    let (first, last) = (times.first()?, times.last()?);
    let span = last.duration_since(*first).as_secs_f64();
    (times.len() > 1 && span > 0.0).then(|| (times.len() - 1) as f64 / span)
}

/// What the generation loop reports besides the text it streamed.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub prompt_tokens: u64,
    pub output_tokens: u64,
    pub prefill_ms: f64,
    pub finish_reason: &'static str,
    /// Every generated token id, in order.
    pub token_ids: Vec<u32>,
    /// When each token id was read, whether or not it completed any text yet.
    pub token_times: Vec<Instant>,
    /// When the last token was read and the stream ended.
    pub done_at: Instant,
    /// Where each decode step's time went on the host.
    pub steps: StepTimes,
}

/// Per decode step, nanoseconds: building the next step's graph (the model's ops
/// recorded, nothing computed), dispatching it (`async_eval`), and waiting for the
/// current token's value (device work not yet hidden behind the host's). One entry per
/// step that queued a next step; the waits, one per token read.
#[derive(Debug, Clone, Default)]
pub struct StepTimes {
    pub build_ns: Vec<u64>,
    pub dispatch_ns: Vec<u64>,
    pub wait_ns: Vec<u64>,
    /// The prefill (every prompt token but the last): building its graph, dispatching
    /// it, waiting for it; summed over its chunks.
    pub prefill_ns: [u64; 3],
}

/// Prompt tokens per prefill pass, as mlx-lm's default `prefill_step_size`.
pub const PREFILL_CHUNK: usize = 2048;

fn ns_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Receives the generated text as it becomes available: `(when, text, tokens)`, where
/// `tokens` is how many token ids the text spans (more than 1 when text was held back
/// for an unfinished character). The final call may carry empty text for tokens that
/// never produced any (special tokens, a cut-off character).
pub type TextSink<'a> = &'a mut dyn FnMut(Instant, &str, u32);

/// Asked after every token and between prefill chunks: `true` stops the generation there
/// (finish reason `"cancelled"`), e.g. when the client that wanted the tokens has gone.
pub type Cancel<'a> = &'a dyn Fn() -> bool;

/// One generation: the prompt's ids, how to sample, until when, where each token's
/// text goes, and what is asked whether to stop.
pub struct Generation<'a> {
    pub prompt: &'a [u32],
    pub sampling: &'a Sampling,
    pub deadline: Instant,
    pub sink: TextSink<'a>,
    pub cancel: Cancel<'a>,
}

/// Generates from prompt ids, handing each token's text to the sink the moment its
/// value is read.
pub fn generate(model: &Model, tok: Option<&Tokenizer>, g: Generation<'_>) -> Result<Outcome, EngineError> {
    check(model, g.prompt, g.sampling.max_tokens)?;
    run_loop(model, tok, g)?.map_err(|tokens| EngineError::TimedOut { tokens })
}

/// Whether `prompt` can run on this model with `max_tokens` more positions: not empty,
/// every id inside the vocabulary, prompt + output within the model's context.
pub fn check(model: &Model, prompt: &[u32], max_tokens: u32) -> Result<(), EngineError> {
    if prompt.is_empty() {
        return Err(EngineError::Request("empty prompt".into()));
    }
    // an id past the embedding reads outside it (MLX's gather does not check)
    let vocab = u32::try_from(model.config.vocab_size).unwrap_or(0);
    if let Some((i, id)) = prompt.iter().enumerate().find(|(_, id)| **id >= vocab) {
        return Err(EngineError::Request(format!(
            "prompt token {i} is id {id}, outside the model's vocabulary of {vocab} ids (0..{vocab})"
        )));
    }
    if let Some(max) = model.config.max_position_embeddings {
        let need = prompt.len() as i64 + i64::from(max_tokens);
        if need > i64::from(max) {
            return Err(EngineError::Request(format!(
                "prompt ({} tokens) + max_tokens ({max_tokens}) exceeds the model's context of {max}",
                prompt.len(),
            )));
        }
    }
    Ok(())
}

enum Prefill {
    Done,
    Cancelled,
    TimedOut,
}

/// Runs `ids` through the model into `cache` in chunks of [`PREFILL_CHUNK`] (as mlx-lm's
/// prefill step), so a long prompt's activations stay bounded. Between chunks it asks
/// `cancel` and the deadline whether to go on, so a long prompt whose client left does
/// not hold the engine to its end.
fn prefill(
    model: &Model,
    ids: &[i32],
    cache: &mut KvCache,
    steps: &mut StepTimes,
    deadline: Instant,
    cancel: Cancel<'_>,
) -> error::Result<Prefill> {
    for (i, chunk) in ids.chunks(PREFILL_CHUNK).enumerate() {
        if i > 0 {
            if cancel() {
                return Ok(Prefill::Cancelled);
            }
            if Instant::now() > deadline {
                return Ok(Prefill::TimedOut);
            }
        }
        let t = Instant::now();
        model.forward(&Array::from_slice(chunk, &[1, chunk.len() as i32]), cache)?;
        steps.prefill_ns[0] += ns_since(t);
        let t = Instant::now();
        transforms::async_eval(cache.arrays()).map_err(mlx_err)?;
        steps.prefill_ns[1] += ns_since(t);
        let t = Instant::now();
        transforms::eval(cache.arrays()).map_err(mlx_err)?;
        steps.prefill_ns[2] += ns_since(t);
    }
    Ok(Prefill::Done)
}

/// The loop itself: `Ok(Err(tokens))` when the deadline passed after `tokens` tokens.
/// Long, and kept whole: its body is one decode step with its bookkeeping, so the order
/// of queueing the next step, reading this token and stamping it stays in one place.
fn run_loop(model: &Model, tok: Option<&Tokenizer>, g: Generation<'_>) -> error::Result<Result<Outcome, u32>> {
    let Generation { prompt, sampling: s, deadline, sink, cancel } = g;
    random::seed(s.seed).map_err(mlx_err)?;
    let ids: Vec<i32> = prompt.iter().map(|&t| t as i32).collect();
    let t_start = Instant::now();
    let mut cache = KvCache::default();
    let n = ids.len();
    let mut steps = StepTimes::default();
    match prefill(model, &ids[..n - 1], &mut cache, &mut steps, deadline, cancel)? {
        Prefill::Done => {}
        Prefill::TimedOut => return Ok(Err(0)),
        Prefill::Cancelled => {
            let done_at = Instant::now();
            return Ok(Ok(Outcome {
                prompt_tokens: n as u64,
                output_tokens: 0,
                prefill_ms: ms(done_at.duration_since(t_start)),
                finish_reason: "cancelled",
                token_ids: Vec::new(),
                token_times: Vec::new(),
                done_at,
                steps,
            }));
        }
    }
    let last = Array::from_slice(&ids[n - 1..], &[1, 1]);
    let mut y = step(model, &last, &mut cache, s)?;
    transforms::async_eval([&y]).map_err(mlx_err)?;

    let mut detok = Detokenizer::default();
    let mut out_ids = Vec::new();
    let mut pending = 0u32;
    let mut prefill_ms = 0.0;
    let mut finish = "length";
    let mut count = 0u32;
    // Work queued but never read (the step after an EOS, or the first token when
    // max_tokens is 0) is waited for before returning: left running, it would occupy the
    // engine while the next request starts and inflate that request's TTFT, and at exit
    // it would race MLX's teardown.
    let mut in_flight: Option<Array> = Some(y.clone());
    let mut token_times = Vec::with_capacity(s.max_tokens as usize);
    let cap = (s.max_tokens as usize).min(1 << 20);
    steps.build_ns.reserve(cap);
    steps.dispatch_ns.reserve(cap);
    steps.wait_ns.reserve(cap);
    let mut timed_out = false;
    let dot = crate::raw::step_dot_path();
    while count < s.max_tokens {
        // the next step is queued only if there will be a token to read from it
        let next = if count + 1 < s.max_tokens {
            let t = Instant::now();
            let input = y.reshape(&[1, 1]).map_err(mlx_err)?;
            let nx = step(model, &input, &mut cache, s)?;
            steps.build_ns.push(ns_since(t));
            if count == 1
                && let Some(path) = &dot
            {
                crate::raw::write_dot(path, &[&nx])?;
            }
            let t = Instant::now();
            transforms::async_eval([&nx]).map_err(mlx_err)?;
            steps.dispatch_ns.push(ns_since(t));
            Some(nx)
        } else {
            None
        };
        in_flight = next.clone();
        let t = Instant::now();
        let id = y.try_item_cast::<u32>().map_err(mlx_err)?;
        steps.wait_ns.push(ns_since(t));
        let at = Instant::now();
        if count == 0 {
            prefill_ms = ms(at.duration_since(t_start));
        }
        count += 1;
        out_ids.push(id);
        token_times.push(at);
        pending += 1;
        let text = tok.map(|t| detok.push(t, id)).unwrap_or_else(|| id.to_string() + " ");
        if !text.is_empty() {
            sink(at, &text, pending);
            pending = 0;
        }
        let is_eos = tok.is_some_and(|t| t.eos_ids.contains(&id));
        if is_eos && !s.ignore_eos {
            finish = "stop";
            break;
        }
        if at > deadline {
            timed_out = true;
            break;
        }
        if cancel() {
            finish = "cancelled";
            break;
        }
        match next {
            Some(nx) => y = nx,
            None => break,
        }
    }
    if pending > 0 {
        // tokens whose text never completed (or special tokens with no text)
        sink(Instant::now(), "", pending);
    }
    let done_at = Instant::now();
    if let Some(w) = in_flight {
        transforms::eval([&w]).map_err(mlx_err)?;
    }
    if timed_out {
        return Ok(Err(count));
    }
    Ok(Ok(Outcome {
        prompt_tokens: n as u64,
        output_tokens: u64::from(count),
        prefill_ms,
        finish_reason: finish,
        token_ids: out_ids,
        token_times,
        done_at,
        steps,
    }))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::*;
    use crate::testmodel::tiny_model;

    /// A temperature too small for 1/T to be a float32 acts greedy, never random.
    #[test]
    fn vanishing_temperatures_act_greedy() {
        let logits = Array::from_slice(&[0.1f32, 2.0, 0.5, 1.9], &[1, 4]);
        for t in [1e-300, 1e-45, f64::MIN_POSITIVE, f64::NAN] {
            let s = Sampling { max_tokens: 1, temperature: t, top_p: None, seed: 0, ignore_eos: false };
            for _ in 0..20 {
                let id = sample(&logits, &s).unwrap();
                assert_eq!(id.try_item_cast::<u32>().unwrap(), 1, "temperature {t}");
            }
        }
    }

    fn run(model: &Model, prompt: &[u32], deadline: Instant, cancel: Cancel<'_>) -> Result<Outcome, EngineError> {
        let s = Sampling { max_tokens: 4, temperature: 0.0, top_p: None, seed: 0, ignore_eos: true };
        generate(model, None, Generation { prompt, sampling: &s, deadline, sink: &mut |_, _, _| {}, cancel })
    }

    /// A prompt of three prefill chunks is cancelled after its first chunk, not after
    /// its whole prefill, and a passed deadline stops it there too; a prompt of one
    /// chunk is never asked before its first token.
    #[test]
    fn long_prefill_stops_between_chunks() {
        let model = tiny_model();
        let long: Vec<u32> = (0..(2 * PREFILL_CHUNK as u32 + 100)).map(|i| i % 60 + 1).collect();
        let asked = Cell::new(0);
        let far = Instant::now() + Duration::from_secs(600);
        let out = run(&model, &long, far, &|| {
            asked.set(asked.get() + 1);
            true
        })
        .unwrap();
        assert_eq!((out.finish_reason, out.output_tokens, asked.get()), ("cancelled", 0, 1));
        assert_eq!(out.prompt_tokens, long.len() as u64);
        match run(&model, &long, Instant::now(), &|| false) {
            Err(EngineError::TimedOut { tokens: 0 }) => {}
            other => panic!("expected a timeout before the first token: {other:?}"),
        }
        let asked = Cell::new(0);
        let out = run(&model, &long[..100], far, &|| {
            asked.set(asked.get() + 1);
            false
        })
        .unwrap();
        // asked once per token read (4), never during the single-chunk prefill
        assert_eq!((out.finish_reason, out.output_tokens, asked.get()), ("length", 4, 4));
    }
}
