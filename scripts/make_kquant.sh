#!/usr/bin/env bash
# Makes a real Q4_K_M GGUF (Ollama's default download format) from another GGUF of the
# same model, with llama.cpp's own quantizer as the real Ollama carries it:
#   make_kquant.sh IN.gguf OUT.gguf [TYPE]     (TYPE: q4_K_M, the default, or q5_K_M, ...)
# IN is dequantized to F16 by scripts/gguf_to_f16.py (Ollama quantizes only from F16,
# BF16 or F32), `ollama create --quantize TYPE` runs in a private, throw-away state
# folder on a private port, and the model blob it writes is copied to OUT. Does nothing
# when OUT exists. scripts/setup.sh makes models/SmolLM2-135M-Instruct.Q4_K_M.gguf so.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # ROOT, PY, ollama_binary
src=${1:?usage: make_kquant.sh IN.gguf OUT.gguf [TYPE]} dst=${2:?usage: make_kquant.sh IN.gguf OUT.gguf [TYPE]} type=${3:-q4_K_M}
[ -s "$dst" ] && exit 0
[ -s "$src" ] || { log "no $src"; exit 1; }
ollama="${MLXBENCH_OLLAMA:-}"
if [ -z "$ollama" ] && ! ollama=$(ollama_binary); then
  log "no Ollama to quantize with (../shared/tools/ollama, ollama on PATH or Ollama.app)"
  exit 1
fi
work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
log "dequantizing $(basename "$src") to F16"
"$PY" "$ROOT/scripts/gguf_to_f16.py" "$src" "$work/f16.gguf"
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/home" "$work/models"
export HOME="$work/home" OLLAMA_MODELS="$work/models" OLLAMA_NO_CLOUD=1 OLLAMA_HOST="127.0.0.1:$port"
"$ollama" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  "$ollama" list >/dev/null 2>&1 && break
  sleep 0.1
done
printf 'FROM %s\n' "$work/f16.gguf" >"$work/Modelfile"
log "quantizing to $type with $ollama"
"$ollama" create kquant --quantize "$type" -f "$work/Modelfile" >"$work/create.log" 2>&1 \
  || { log "ollama create --quantize failed:"; tail -5 "$work/create.log" >&2; exit 1; }
digest=$("$PY" - "$OLLAMA_MODELS/manifests/registry.ollama.ai/library/kquant/latest" <<'PYEOF'
import json, sys
layers = json.load(open(sys.argv[1]))["layers"]
print(next(l["digest"] for l in layers if l["mediaType"].endswith(".model")))
PYEOF
)
mkdir -p "$(dirname "$dst")"
cp "$OLLAMA_MODELS/blobs/${digest/:/-}" "$dst.part"
mv "$dst.part" "$dst"
log "wrote $dst ($(du -h "$dst" | cut -f1))"
