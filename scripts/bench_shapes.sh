#!/usr/bin/env bash
# The native engine against mlx-lm on PLATFORM.md's four shapes (SmolLM2-135M and
# Llama-3.2-1B dimensions, vocab 49152, random weights; bf16 and mlx-lm 4-bit g64), warm,
# alternating runs, median of RUNS: prefill and decode tok/s and their ratios. Decode is
# timed from token reads on both sides. Needs mlx, mlx-lm (and numpy, safetensors,
# tokenizers) for python3; makes its models under target/shapes once. Made for the GPU
# machine (MLX's CUDA library); runs anywhere MLX does. The 4-bit shapes are quantized
# from the float32 model, so their scales and activations are float32; `135m-q4b` and
# `1b-q4b` (asked for by name in SHAPES) carry bf16 ones, as 4-bit checkpoints made from
# bf16 weights do.
# Columns: prefill and decode tok/s and ratios, whether both generated the same tokens,
# host us per decode step (medians of build / dispatch / wait; the sum of their means,
# which a few slow steps move), and the prefill's host time and wait.
#   scripts/bench_shapes.sh [RUNS] [PROMPT_TOKENS] [MAX_TOKENS]
#   SHAPES="135m-bf16 1b-q4"   some shapes only (only those are made)
#   BASE_BIN=path              also run an earlier build, in the same alternation (its
#                              rates, host us per step and whether its tokens are mlx-lm's)
#   NATIVE_ENV="K=V ..."       environment for the native runs only
#   BASE_ENV="K=V ..."         environment for the BASE_BIN runs only (BASE_BIN may be the
#                              same build, e.g. BASE_ENV=MLXBENCH_NO_COMPILE=1)
#   MLXBENCH_BIN=path          the build to measure (default target/release/mlxbench)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN=${MLXBENCH_BIN:-target/release/mlxbench}
RUNS=${1:-5} PT=${2:-512} MT=${3:-128}
M=target/shapes
mkdir -p "$M"
shape() { # name, make_tiny_model args...
  local name=$1; shift
  [ -f "$M/$name-f32/model.safetensors" ] || python3 tests/fixtures/make_tiny_model.py "$M/$name-f32" --vocab 49152 --tied "$@" >/dev/null
  [ -f "$M/$name-bf16/config.json" ] || python3 -m mlx_lm convert --hf-path "$M/$name-f32" --mlx-path "$M/$name-bf16" --dtype bfloat16 >/dev/null
  [ -f "$M/$name-q4/config.json" ] || python3 -m mlx_lm convert --hf-path "$M/$name-f32" --mlx-path "$M/$name-q4" -q --q-group-size 64 --q-bits 4 >/dev/null
  # q4b: 4-bit with bf16 scales and activations, as 4-bit checkpoints made from bf16 weights
  if [[ " $SHAPES " == *" $name-q4b "* && ! -f "$M/$name-q4b/config.json" ]]; then
    python3 -m mlx_lm convert --hf-path "$M/$name-f32" --mlx-path "$M/$name-q4b" --dtype bfloat16 -q --q-group-size 64 --q-bits 4 >/dev/null
  fi
}
# which shapes (default all four), e.g. SHAPES="135m-bf16 1b-q4"; WARM=1 (default) runs one
# generation in each process before the measured one, so prefill / TTFT are warm (no JIT)
SHAPES=${SHAPES:-"135m-bf16 135m-q4 1b-bf16 1b-q4"}
wanted() { [[ " $SHAPES " == *" $1-"* ]]; }
if wanted 135m; then shape 135m --hidden 576 --layers 30 --heads 9 --kv-heads 3 --intermediate 1536; fi
if wanted 1b; then shape 1b --hidden 2048 --layers 16 --heads 32 --kv-heads 8 --intermediate 8192; fi
IDS=$(python3 -c "import random; random.seed(0); print(','.join(str(random.randrange(100, 20000)) for _ in range($PT)))")
# BASE_BIN=path: an earlier mlxbench build, run in the same alternation (before/after)
python3 - "$BIN" "$IDS" "$MT" "$RUNS" "$M" "$SHAPES" "${WARM:-1}" "${BASE_BIN:-}" <<'PY'
import json, statistics, subprocess, sys
bin_, ids, mt, runs, m, shapes, warm, base = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6].split(), sys.argv[7], sys.argv[8]
import os
# NATIVE_ENV / BASE_ENV="K=V ...": environment for the native / BASE_BIN runs only
settings = lambda var: dict(kv.split("=", 1) for kv in os.environ.get(var, "").split())
native_env, base_env = settings("NATIVE_ENV"), settings("BASE_ENV")
ref_env = {"MLXBENCH_STEP_PROFILE": "1", "MLXBENCH_WARMUP": warm}
def run(cmd, extra):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=dict(os.environ, **extra)).stdout
    return json.loads(out.strip().splitlines()[-1])
print("| shape | native prefill tok/s | mlx-lm prefill tok/s | prefill ratio | native decode tok/s | mlx-lm decode tok/s | decode ratio | same tokens "
      "| host build us/step native / mlx-lm | dispatch us/step | wait us/step | mean build+dispatch+wait us | prefill host us (build+dispatch) | prefill wait us |"
      + (" base decode tok/s | base prefill tok/s | base build / dispatch / wait us/step | base same tokens |" if base else ""))
print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|---|" if base else ""))
for name in shapes:
    model = f"{m}/{name}"
    native, ref, old = [], [], []
    generate = lambda b: [b, "models", "generate", model, "--ids", ids, "--max-tokens", mt, "--warmup", warm]
    for i in range(runs + 1):  # the first round warms up (kernel JIT), not counted
        n = run(generate(bin_), native_env)
        r = run(["python3", "tests/fixtures/mlx_lm_reference.py", model, ids, mt], ref_env)
        b = run(generate(base), base_env) if base else None
        if i > 0:
            native.append(n); ref.append(r); old.append(b)
    med = lambda rs, k: statistics.median(x.get(k, 0.0) for x in rs)
    same_as_ref = lambda rs: all(a["token_ids"] == b["token_ids"] for a, b in zip(rs, ref))
    step_keys = ("step_build_us", "step_dispatch_us", "step_wait_us")
    nd, rd = med(native, "decode_tps"), med(ref, "decode_tps")
    npf, rpf = med(native, "prefill_tps"), med(ref, "prefill_tps")
    steps = " | ".join(f"{med(native, k):.0f} / {med(ref, k):.0f}" for k in step_keys)
    total = lambda rs: statistics.median(sum(x.get("step_mean_us", [0.0])) for x in rs)
    steps += f" | {total(native):.0f} / {total(ref):.0f}"
    host = lambda rs: statistics.median(x.get("prefill_build_us", 0.0) + x.get("prefill_dispatch_us", 0.0) for x in rs)
    pre = f"{host(native):.0f} / {host(ref):.0f} | {med(native, 'prefill_wait_us'):.0f} / {med(ref, 'prefill_wait_us'):.0f}"
    tail = ""
    if base:
        old_steps = " / ".join(f"{med(old, k):.0f}" for k in step_keys)
        tail = f" {med(old, 'decode_tps'):.1f} | {med(old, 'prefill_tps'):.0f} | {old_steps} | {same_as_ref(old)} |"
    print(f"| {name} | {npf:.0f} | {rpf:.0f} | {npf / rpf:.2f} | {nd:.1f} | {rd:.1f} | {nd / rd:.2f} | {same_as_ref(native)} | {steps} | {pre} |{tail}", flush=True)
PY
