#!/usr/bin/env python3
"""What HTTP adds to each request of a scenarios/serve.toml result file, from the
server's own timings (mlxbench serve reports them per request) against what the client
measured:

  TTFT      client TTFT - server (load + queue + prefill); the rest is request parsing,
            tokenising and the chat template (which the in-process target pays too),
            and the first token's trip
  per token (client first->last arrival - server first->last token read) / (tokens - 1)
  e2e       client send->stream end - server request arrival->done: HTTP alone

and, for the in-process target, TTFT - the engine's prefill (tokenising, the template).

usage: scripts/http_overhead.py RESULT.json
"""
import json
import statistics
import sys


def server_times(s):
    """(load + queue + prefill, decode span, tokens, total) in ms, either API."""
    sv = s.get("server") or {}
    if "prompt_eval_duration" in sv:  # Ollama's API, ns; total includes the queue
        return ((sv["prompt_eval_duration"] + sv.get("load_duration", 0)) / 1e6, sv["eval_duration"] / 1e6,
                sv["eval_count"], sv["total_duration"] / 1e6)
    t = sv["timings"]  # OpenAI API, llama.cpp-style timings in ms
    return (t["prompt_ms"] + t["load_ms"] + t["queue_ms"], t["predicted_ms"], t["predicted_n"], t.get("total_ms"))


def main(path):
    result = json.load(open(path))
    for case in result["cases"]:
        if case["backend"] == "mlx":
            # in-process: what tokenising, the chat template and the engine thread's hop cost
            v = [s["ttft_ms"] - s["server"]["prefill_ms"] for s in case["samples"] if s.get("ok") and "ttft_ms" in s]
            if v:
                print(f"{case['target']:14} {case['workload']:10} n={len(v):3}  TTFT +{statistics.median(v):.2f} ms"
                      f" (range {min(v):.2f}..{max(v):.2f}) over the engine's prefill, in-process")
            continue
        ttft, token, e2e = [], [], []
        for s in case["samples"]:
            if not s.get("ok") or "ttft_ms" not in s:
                continue
            first, span, n, total = server_times(s)
            ttft.append(s["ttft_ms"] - first)
            if n > 1 and len(s.get("arrival_ms", [])) > 1:
                token.append((s["arrival_ms"][-1] - s["arrival_ms"][0] - span) / (n - 1) * 1000)
            if total is not None:
                e2e.append(s["e2e_ms"] - total)
        med = lambda v, f: f.format(statistics.median(v)) if v else "-"
        print(f"{case['target']:14} {case['workload']:10} n={len(ttft):3}  TTFT +{med(ttft, '{:.2f}')} ms"
              f" (range {min(ttft):.2f}..{max(ttft):.2f})  per token {med(token, '{:+.1f}')} us  e2e +{med(e2e, '{:.2f}')} ms")


if __name__ == "__main__":
    main(sys.argv[1])
