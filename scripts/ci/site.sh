#!/usr/bin/env bash
# The report site of a CI run: the history (main's earlier runs) with this run's results
# added, reported into OUT (index.html, a page per scenario, summary.md, gab-*.json and
# bmf.json for github-action-benchmark and Bencher). HISTORY itself is not changed: the
# publish job adds to it on main only.
#
#   scripts/ci/site.sh HISTORY ARTIFACTS OUT
#
# A missing HISTORY (the first run) is an empty one. summary.md goes to the job summary
# when $GITHUB_STEP_SUMMARY is set.
set -euo pipefail
history=${1:?usage: site.sh HISTORY ARTIFACTS OUT}
artifacts=${2:?usage: site.sh HISTORY ARTIFACTS OUT}
out=${3:?usage: site.sh HISTORY ARTIFACTS OUT}
bin=${MLXBENCH_BIN:-target/release/mlxbench}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/history"
if [ -d "$history" ]; then
  cp -R "$history/." "$work/history/"
fi
bash "$here/history.sh" add "$work/history" "$artifacts"
"$bin" report "$work/history" --out "$out" --format md,html,svg,csv,gab,bmf
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$out/summary.md" ]; then
  cat "$out/summary.md" >> "$GITHUB_STEP_SUMMARY"
fi
