#!/usr/bin/env bash
# Speed of the native in-process MLX engine against mlx-lm (the reference) on the same
# model, prompt and machine, measured side by side: prefill and decode tokens/s and
# their ratios (native / mlx-lm; >= 1.0 means we are at least as fast).
#   scripts/bench_vs_mlx_lm.sh [MODEL_DIR] [PROMPT_TOKENS] [MAX_TOKENS] [RUNS]
# Default model: SmolLM2-135M converted from the shipped GGUF.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh >/dev/null
ensure_venv
pip_need "import mlx_lm" "mlx[cpu]==0.32.2" "mlx-lm==0.32.2"
MODEL="${1:-target/bench/smollm2}"
PT="${2:-256}"
MT="${3:-128}"
RUNS="${4:-3}"
if [ ! -f "$MODEL/config.json" ]; then
  target/release/mlxbench models convert models/SmolLM2-135M-Instruct.Q4_1.gguf "$MODEL" >/dev/null
fi
# random prompt ids inside the model's vocabulary
IDS=$(python3 -c "import json, random; random.seed(0); v = min(20000, json.load(open('$MODEL/config.json'))['vocab_size']); print(','.join(str(random.randrange(100, v)) for _ in range($PT)))")
python3 - "$MODEL" "$IDS" "$MT" "$RUNS" <<'PY'
import json, statistics, subprocess, sys
model, ids, mt, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import os
def run(cmd, profile=False):
    env = dict(os.environ, MLXBENCH_STEP_PROFILE="1") if profile else None
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])
native, ref = [], []
for _ in range(runs):  # alternate to share any drift fairly
    native.append(run(["target/release/mlxbench", "models", "generate", model, "--ids", ids, "--max-tokens", mt]))
    ref.append(run(["python3", "tests/fixtures/mlx_lm_reference.py", model, ids, mt], profile=True))
med = lambda rs, k: statistics.median(r[k] for r in rs)
for k in ("prefill_tps", "decode_tps"):
    n, r = med(native, k), med(ref, k)
    pairs = sorted(a[k] / b[k] for a, b in zip(native, ref))
    print(f"{k:12s} native {n:9.1f}  mlx-lm {r:9.1f}  ratio {n / r:5.2f}  (run by run {pairs[0]:.2f}-{pairs[-1]:.2f})")
# host time per decode step (median of each run's median), µs: graph built, dispatched, waited for
for k in ("step_build_us", "step_dispatch_us", "step_wait_us"):
    print(f"{k:16s} native {med(native, k):9.1f}  mlx-lm {med(ref, k):9.1f}")
same = all(a["token_ids"] == b["token_ids"] for a, b in zip(native, ref))
print(f"same greedy tokens: {same}; model {model}, {len(ids.split(','))} prompt tokens, {mt} new tokens, median of {runs}")
PY
