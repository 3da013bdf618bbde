#!/usr/bin/env bash
# Starts `mlxbench serve` from this checkout's release build with the given arguments
# (scenarios launch it through this script, so their paths do not depend on how a
# relative program path is resolved). scripts/setup.sh builds target/release/mlxbench.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/target/release/mlxbench"
if [ ! -x "$BIN" ]; then
  echo "serve_mlxbench.sh: $BIN is missing; run scripts/setup.sh first" >&2
  exit 1
fi
exec "$BIN" serve "$@"
