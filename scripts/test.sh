#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the whole test suite, the real llama.cpp
# end-to-end test included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-build
# The MLX tests compare against mlx-lm (the reference implementation) on tiny models
# they generate with numpy/safetensors/tokenizers (and GGUF files written and
# dequantized by the `gguf` package, llama.cpp's own Python library).
if ! python3 -c "import mlx_lm, numpy, safetensors, tokenizers, gguf" >/dev/null 2>&1; then
  echo "[test] installing mlx-lm and model-building packages" >&2
  python3 -m pip install --quiet --disable-pip-version-check "mlx[cpu]==0.32.2" "mlx-lm==0.32.2" numpy safetensors tokenizers "gguf==0.19.0"
fi
# The report tests open the generated HTML in a real headless browser.
if ! command -v chromium >/dev/null 2>&1; then
  echo "[test] installing Debian's chromium" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "[test] installing cargo-nextest" >&2
  cargo install --locked cargo-nextest
fi
exec cargo nextest run --workspace --all-targets --no-fail-fast "$@"
