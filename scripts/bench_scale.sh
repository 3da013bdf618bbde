#!/usr/bin/env bash
# `report` and `compare` at scale: a generated 10,000-case result set (20 targets x 500
# workloads, 5 requests each), a baseline and a 10%-slower candidate. Prints wall time
# and peak memory of each command. Uses target/release/mlxbench (scripts/setup.sh builds
# it); set MLXBENCH_BIN to time another binary, CASES to change the size.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MLXBENCH_BIN:-target/release/mlxbench}
CASES=${CASES:-10000}
[ -x "$BIN" ] || { echo "no $BIN: run scripts/setup.sh (or cargo build --release) first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/one" "$work/two"
python3 scripts/gen_results.py "$CASES" "$work/one/base.json"
python3 scripts/gen_results.py "$CASES" "$work/two/cand.json" --seed 2 --slower 1.1 --started 2026-11-22T12:00:00Z
cp "$work/one/base.json" "$work/two/"
measure() { # label, command...: wall time and peak memory of the command alone
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
label, cmd = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = time.monotonic() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
print(f"| {label} | {wall:.1f} s | {peak} MiB | {rc} |")
PY
}
echo "| command ($CASES cases per run, $(nproc) cores) | wall | peak memory | exit |"
echo "|---|---|---|---|"
measure "report, one run" "$BIN" report "$work/one" -o "$work/rep1"
measure "report, two runs (trend)" "$BIN" report "$work/two" -o "$work/rep2"
measure "compare" "$BIN" compare "$work/one/base.json" "$work/two/cand.json"
# A fleet: 1,000 result files (50 runs x 20 scenario-machine pairs, 6 cases each) as CI
# artifacts lay them out; report writes the whole site, compare pairs every newest run.
python3 tests/fixtures/make_tree.py "$work/fleet" --machines 4 --scenarios 5 --runs 50 --seed 1
python3 tests/fixtures/make_tree.py "$work/fleet-new" --machines 4 --scenarios 5 --runs 1 --seed 2 --regress 0.15
measure "report, fleet tree (1,000 files)" "$BIN" report "$work/fleet" -o "$work/site"
measure "compare, fleet tree vs newest runs" "$BIN" compare "$work/fleet" "$work/fleet-new"
