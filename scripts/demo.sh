#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the shipped demo scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec target/release/mlxbench run scenarios/demo.toml --export-markdown reports/demo.md "$@"
