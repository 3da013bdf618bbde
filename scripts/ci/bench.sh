#!/usr/bin/env bash
# One machine's benchmark job (bench.yml's matrix): runs the scenarios into OUT.
#
#   scripts/ci/bench.sh OUT [SCENARIO GLOB]     default glob: scenarios/*.toml
#
# `mlxbench run` exits 3 when some requests or cases failed: the results are kept and the
# report and the gate show why (a target that failed entirely is "broken" there), so
# this job succeeds. Any other failure (1: invalid scenario or unwritable output, 130:
# cancelled) fails the job. MLXBENCH_BIN names the binary (default target/release/mlxbench).
set -euo pipefail
out=${1:?usage: bench.sh OUT [SCENARIO GLOB]}
glob=${2:-scenarios/*.toml}
bin=${MLXBENCH_BIN:-target/release/mlxbench}
mkdir -p "$out"
code=0
"$bin" run "$glob" --quiet --out "$out" || code=$?
case $code in
  0) echo "bench: every request succeeded; results in $out" ;;
  3) echo "bench: some requests failed (exit 3); results kept in $out for the report and the gate" ;;
  *) echo "bench: mlxbench run failed with exit $code" >&2; exit "$code" ;;
esac
