#!/usr/bin/env bash
# The random-weight models of scenarios/hardware.toml (no model hub is reachable, and
# random weights decode at the same speed as trained ones): Llama-shaped safetensors
# directories made by tests/fixtures/make_tiny_model.py with fixed seeds, so every machine
# benchmarks identical files. Idempotent; needs numpy, safetensors, tokenizers.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3)}"
make() { # name, args...
  local out="$ROOT/models/$1"; shift
  [ -f "$out/model.safetensors" ] && return 0
  "$PY" "$ROOT/tests/fixtures/make_tiny_model.py" "$out" "$@" >/dev/null
  echo "made $out ($(du -h "$out/model.safetensors" | cut -f1))" >&2
}
make random-small --seed 1 --hidden 256 --layers 4 --vocab 4096
make random-mid --seed 2 --hidden 768 --layers 12 --vocab 8192
