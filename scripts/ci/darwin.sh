#!/usr/bin/env bash
# The macOS build checked from Linux: `cargo check` and `cargo clippy` for
# aarch64-apple-darwin through ../shared/tools/darwin/darwin-check.sh (rustc type-checks
# every `#[cfg(target_os = "macos")]` line; nothing is linked or run), for the default
# features with --all-targets and for --workspace --features mlx with the mlx-c bindings
# scripts/build_mlx.sh generates. Any error or warning fails. Where the tool is absent
# the check prints SKIPPED with the reason and exits 0, never a silent pass; on a Mac it
# is not needed (the real build runs there) and says so.
#
#   scripts/ci/darwin.sh            (DARWIN_CHECK: the tool, default ../shared/tools/darwin/darwin-check.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tool=${DARWIN_CHECK:-$root/../shared/tools/darwin/darwin-check.sh}
if [ "$(uname -s)" = Darwin ]; then
  echo "darwin check: SKIPPED (this is a Mac: scripts/test.sh builds and runs the macOS code itself)"
  exit 0
fi
if [ ! -f "$tool" ]; then
  echo "darwin check: SKIPPED ($tool not found; it comes with ../shared/tools/darwin, see its README)"
  exit 0
fi
bindings="$root/target/mlx-native/out"
if [ ! -s "$bindings/bindings.rs" ]; then
  echo "darwin check: making the mlx-c bindings first (scripts/build_mlx.sh)"
  bash "$root/scripts/build_mlx.sh"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
run() { # label, then environment assignments and the tool's cargo arguments
  local label=$1
  shift
  local started=$SECONDS
  # -D warnings: a warning fails the step like an error (dependencies keep cargo's
  # --cap-lints); the grep also catches cargo's own warnings (build scripts, manifests)
  if env DARWIN_RUSTFLAGS="-D warnings" "$@" > "$log" 2>&1 && ! grep -Eq '^(warning|error)(\[|:)' "$log"; then
    echo "darwin check: $label ok ($((SECONDS - started)) s)"
  else
    failed=1
    echo "darwin check: $label FAILED" >&2
    grep -E -A12 '^(warning|error)(\[|:)' "$log" | head -80 >&2 || tail -30 "$log" >&2
  fi
}
for cmd in check clippy; do
  clippy=""
  [ "$cmd" = clippy ] && clippy=1
  run "cargo $cmd, default features, --all-targets" \
    DARWIN_CLIPPY="$clippy" bash "$tool" "$root" -- --all-targets
  run "cargo $cmd, --workspace --features mlx" \
    DARWIN_CLIPPY="$clippy" DARWIN_MLX=1 DARWIN_MLX_OUT_DIR="$bindings" bash "$tool" "$root" -- --workspace
done
[ "$failed" -eq 0 ] || { echo "darwin check: failed (aarch64-apple-darwin)" >&2; exit 1; }
echo "darwin check: aarch64-apple-darwin clean (check and clippy, default and mlx)"
