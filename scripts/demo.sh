#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the shipped demo scenario.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh
ensure_venv
exec target/release/mlxbench run scenarios/demo.toml --export-markdown reports/demo.md "$@"
