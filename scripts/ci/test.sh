#!/usr/bin/env bash
# The CI scripts end to end on a simulated artifacts tree (tests/fixtures/make_tree.py:
# 3 machines x 3 scenarios, real result files perturbed): main's history on the Pages
# branch with pruning, a pull request's results with an injected 15% decode drop and a
# broken target, the site, the gate's exit codes (4, then 0 on an A/A pair, 0 SKIPPED
# without a baseline), and bench.sh's handling of `mlxbench run`'s exit codes.
#
#   scripts/ci/test.sh        (MLXBENCH_BIN: the binary, default target/debug/mlxbench)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
ci="$root/scripts/ci"
export MLXBENCH_BIN=${MLXBENCH_BIN:-$root/target/debug/mlxbench}
[ -x "$MLXBENCH_BIN" ] || { echo "no $MLXBENCH_BIN: cargo build first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # description, then a command that must succeed
  local what=$1
  shift
  if "$@" > "$work/last.log" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: $what" >&2
    sed 's/^/  /' "$work/last.log" >&2
  fi
}
count() { find "$1" -name '*.json' | wc -l | tr -d ' '; }
exits() { # expected exit code, then a command
  local want=$1 got=0
  shift
  "$@" || got=$?
  [ "$got" -eq "$want" ] || { echo "exit $got, expected $want"; return 1; }
}
tree() { python3 "$root/tests/fixtures/make_tree.py" "$@"; }

# main's earlier runs, kept on the Pages branch, pruned to 3 per machine and scenario
tree "$work/earlier" --seed 1 --runs 4
check "history adds 36 runs and prunes to 27" bash -c "bash '$ci/history.sh' add '$work/pages/history' '$work/earlier' --keep 3 && [ \$(find '$work/pages/history' -name '*.json' | wc -l) -eq 27 ]"
check "history lays out machine/scenario/utc.json" test -f "$work/pages/history/apple-m1-runner-1/scenario-2/20261004T000100Z.json"
check "adding the same runs again duplicates none" bash -c "bash '$ci/history.sh' add '$work/pages/history' '$work/earlier' --keep 3 && [ \$(find '$work/pages/history' -name '*.json' | wc -l) -eq 27 ]"
echo '{"not": "a result"}' > "$work/stray.json"
check "a file that is not a result is skipped, saying so" bash -c "bash '$ci/history.sh' add '$work/pages/history' '$work/stray.json' 2>&1 | grep -q 'skipped'"

# a pull request's results: the first machine's first scenario decodes 15% slower, and
# serve-openai fails every request
tree "$work/artifacts" --seed 2 --newest-only --regress 0.15 --broken serve-openai
before=$(count "$work/pages/history")
check "site.sh writes the site" bash "$ci/site.sh" "$work/pages/history" "$work/artifacts" "$work/site"
for f in index.html summary.md gab-bigger.json gab-smaller.json bmf.json scenario-1/scenario-1.html; do
  check "site has $f" test -s "$work/site/$f"
done
check "the site flags the regression" grep -q 'regressed' "$work/site/summary.md"
check "site.sh leaves the history alone" test "$(count "$work/pages/history")" -eq "$before"
check "the gate exits 4 on the regression and the broken target" exits 4 bash "$ci/gate.sh" "$work/pages/history" "$work/artifacts" "$work/gate"
check "compare.md names the broken target" grep -q 'serve-openai' "$work/gate/compare.md"
check "compare.json is written" test -s "$work/gate/compare.json"

# an A/A pair passes; no baseline at all is skipped, not failed
tree "$work/aa" --seed 3 --newest-only
check "the gate exits 0 on an A/A pair" exits 0 bash "$ci/gate.sh" "$work/pages/history" "$work/aa" "$work/gate-aa"
check "the gate without a baseline says SKIPPED" bash -c "bash '$ci/gate.sh' '$work/none' '$work/aa' '$work/gate-none' | grep -q SKIPPED"

# bench.sh: exit 3 (some requests failed) keeps the job green, exit 1 fails it
for code in 0 3 1; do
  printf '#!/usr/bin/env bash\nexit %s\n' "$code" > "$work/stub-$code"
  chmod +x "$work/stub-$code"
done
check "bench.sh passes on exit 0" env MLXBENCH_BIN="$work/stub-0" bash "$ci/bench.sh" "$work/b0"
check "bench.sh passes on exit 3" env MLXBENCH_BIN="$work/stub-3" bash "$ci/bench.sh" "$work/b3"
check "bench.sh fails on exit 1" exits 1 env MLXBENCH_BIN="$work/stub-1" bash "$ci/bench.sh" "$work/b1"

# publishing on main: the run joins the history
check "publish adds the run to the history" bash -c "bash '$ci/history.sh' add '$work/pages/history' '$work/artifacts' --keep 3 && [ \$(find '$work/pages/history' -name '*.json' | wc -l) -eq 27 ] && ls '$work/pages/history/apple-m1-runner-1/scenario-1' | grep -q 20261004T000000Z"

echo "ci scripts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
