#!/usr/bin/env python3
"""Writes a synthetic, valid mlxbench result file with N cases, for scale benchmarks.

    scripts/gen_results.py N OUT.json [--seed S] [--slower F]

Cases are 20 targets x N/20 workloads, 5 samples of 32 tokens each; --slower scales
every time up (a candidate with a regression). Deterministic for a seed.
"""
import argparse
import json
import random
import statistics


def summary(vals):
    v = sorted(vals)
    n = len(v)
    med = statistics.median(v)
    sd = statistics.stdev(v) if n > 1 else 0.0
    pick = lambda q: v[min(n - 1, int(q * (n - 1) + 0.5))]
    return {"n": n, "mean": sum(v) / n, "median": med, "stddev": sd, "min": v[0], "max": v[-1],
            "p90": pick(0.9), "p99": pick(0.99), "ci95_low": v[0], "ci95_high": v[-1]}


def case(rng, t, w, slower):
    samples = []
    for i in range(5):
        ttft = rng.uniform(90, 110) * slower
        itl = [rng.uniform(9, 11) * slower for _ in range(31)]
        arrivals, at = [], ttft
        for g in [0.0] + itl:
            at += g
            arrivals.append(at)
        e2e = arrivals[-1]
        samples.append({
            "iteration": i, "stream": 0, "ok": True, "start_offset_ms": 0.0, "first_byte_ms": ttft,
            "ttft_ms": ttft, "e2e_ms": e2e, "itl_ms": itl, "arrival_ms": arrivals, "prompt_tokens": 20,
            "output_tokens": 32, "token_source": "backend", "decode_tps": 31 / ((e2e - ttft) / 1e3),
            "prefill_tps": 20 / (ttft / 1e3), "prefill_source": "ttft", "finish_reason": "length",
        })
    metrics = ["ttft_ms", "e2e_ms", "decode_tps", "prefill_tps", "output_tokens"]
    return {
        "target": f"target-{t}", "backend": "openai", "model": "m", "backend_version": "fake 1",
        "workload": f"w{w}",
        "params": {"max_tokens": 32, "concurrency": 1, "temperature": 0.0, "seed": 42, "ignore_eos": True,
                   "warmup": 0, "iterations": 5, "timeout_s": 60.0, "cooldown_s": 0.0, "api": "completion"},
        "load": {"method": "synthetic", "cold_ms": 1000.0 * slower},
        "samples": samples,
        "summary": {m: summary([s[m] for s in samples]) for m in metrics},
        "warnings": [],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--slower", type=float, default=1.0)
    ap.add_argument("--started", default="2026-11-21T12:00:00Z")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    targets = 20
    cases = [case(rng, i % targets, i // targets, a.slower) for i in range(a.n)]
    run = {
        "schema_version": 1, "mlxbench_version": "0.1.0", "started_at": a.started,
        "finished_at": a.started, "complete": True,
        "host": {"os": "linux", "os_version": "12", "arch": "x86_64", "cpu": "Synthetic CPU", "cores": 2,
                 "memory_bytes": 25769803776, "hostname": "synthetic"},
        "scenario": {"name": "scale", "path": "scale.toml", "source_sha256": "0" * 64, "spec": {"name": "scale"}},
        "cases": cases,
    }
    with open(a.out, "w") as f:
        json.dump(run, f)


if __name__ == "__main__":
    main()
