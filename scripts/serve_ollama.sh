#!/usr/bin/env bash
# Runs a real Ollama on one GGUF model, for scenarios' `launch` and the tests:
#   serve_ollama.sh --model FILE.gguf --name NAME --port PORT [--state DIR]
# The binary is ../shared/tools/ollama/bin/ollama beside the checkout (upstream Ollama
# built for these machines), else `ollama` on PATH or Ollama.app's (MLXBENCH_OLLAMA
# overrides them).
# Ollama's HOME and models live in DIR (default target/ollama), never in the real home;
# OLLAMA_NO_CLOUD=1. The model is imported once (`ollama create` on a private port);
# then this script becomes `ollama serve` on 127.0.0.1:PORT (exec, so the launcher's
# signals and its die-with-parent setting reach the server itself).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # ROOT, ollama_binary
model="" name="" port="" state="$ROOT/target/ollama"
while (($#)); do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --state) state=$2; shift 2 ;;
    *) echo "serve_ollama.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$model" ] || [ -z "$name" ] || [ -z "$port" ]; then
  echo "usage: serve_ollama.sh --model FILE.gguf --name NAME --port PORT [--state DIR]" >&2
  exit 2
fi
[ -f "$model" ] || { echo "serve_ollama.sh: no model file $model (scripts/setup.sh downloads it)" >&2; exit 1; }
model="$(cd "$(dirname "$model")" && pwd)/$(basename "$model")"

ollama="${MLXBENCH_OLLAMA:-}"
if [ -z "$ollama" ] && ! ollama=$(ollama_binary); then
  echo "serve_ollama.sh: no Ollama: neither ../shared/tools/ollama/bin/ollama, ollama on PATH nor Ollama.app (Linux: install it from ollama.com; macOS: brew install ollama)" >&2
  exit 1
fi

mkdir -p "$state/home" "$state/models"
export HOME="$state/home" OLLAMA_MODELS="$state/models" OLLAMA_NO_CLOUD=1
manifest="$OLLAMA_MODELS/manifests/registry.ollama.ai/library/${name%%:*}/${name#*:}"
[ "$name" = "${name#*:}" ] && manifest="$OLLAMA_MODELS/manifests/registry.ollama.ai/library/$name/latest"
stamp="$state/$name.source"
if [ ! -f "$manifest" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$model" ]; then
  # import on a private port, so nothing answers on PORT before the model is there
  private=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  OLLAMA_HOST="127.0.0.1:$private" "$ollama" serve >"$state/import.log" 2>&1 &
  importer=$!
  trap 'kill $importer 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do
    OLLAMA_HOST="127.0.0.1:$private" "$ollama" list >/dev/null 2>&1 && break
    sleep 0.1
  done
  printf 'FROM %s\n' "$model" >"$state/Modelfile"
  OLLAMA_HOST="127.0.0.1:$private" "$ollama" create "$name" -f "$state/Modelfile" >>"$state/import.log" 2>&1 \
    || { echo "serve_ollama.sh: ollama create failed; see $state/import.log" >&2; tail -5 "$state/import.log" >&2; exit 1; }
  kill "$importer" 2>/dev/null || true
  wait "$importer" 2>/dev/null || true
  trap - EXIT
  echo "$model" >"$stamp"
  echo "serve_ollama.sh: imported $model as $name" >&2
fi
OLLAMA_HOST="127.0.0.1:$port" exec "$ollama" serve
