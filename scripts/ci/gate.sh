#!/usr/bin/env bash
# The regression gate: this run's results against the baseline's newest run of each
# scenario and machine. Writes OUT/compare.md (for the PR comment and the job summary,
# within GitHub's comment limit) and OUT/compare.json, and exits as `mlxbench compare`
# does: 4 when anything regressed (a target broken in the candidate counts), 0 when not,
# 1 on an error. Without a baseline (the first run) it says SKIPPED and exits 0.
#
#   scripts/ci/gate.sh BASELINE CANDIDATE OUT [compare options, e.g. --threshold 5%]
set -euo pipefail
base=${1:?usage: gate.sh BASELINE CANDIDATE OUT [options]}
cand=${2:?usage: gate.sh BASELINE CANDIDATE OUT [options]}
out=${3:?usage: gate.sh BASELINE CANDIDATE OUT [options]}
shift 3
bin=${MLXBENCH_BIN:-target/release/mlxbench}
mkdir -p "$out"
if [ ! -d "$base" ] || [ -z "$(find "$base" -name '*.json' -print -quit)" ]; then
  echo "gate: SKIPPED: no baseline results in $base (the first run on main has none)"
  printf '## mlxbench compare: skipped\n\nNo baseline results yet.\n' > "$out/compare.md"
  exit 0
fi
code=0
"$bin" compare "$base" "$cand" --markdown "$out/compare.md" --json "$out/compare.json" "$@" || code=$?
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$out/compare.md" ]; then
  cat "$out/compare.md" >> "$GITHUB_STEP_SUMMARY"
fi
case $code in
  0) echo "gate: no regression" ;;
  4) echo "gate: REGRESSION (exit 4); see $out/compare.md" >&2 ;;
  *) echo "gate: compare failed with exit $code" >&2 ;;
esac
exit "$code"
