#!/usr/bin/env bash
# Builds mlxbench (release, mlx feature) at an earlier commit, for a before/after run in
# one alternation (`scripts/gpu/pack.sh "$(scripts/gpu/build_base.sh COMMIT)"`, then
# bench_shapes.sh on the GPU machine runs it as BASE_BIN). The commit is checked out
# in a worktree under target/ and built into its own target directory, seeded with a
# copy of this checkout's release build so only the project's crates compile (a few
# minutes here). Needs scripts/setup.sh's MLX set-up (.cargo/config.toml). Prints the
# binary's path.
#   scripts/gpu/build_base.sh COMMIT
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
commit=${1:?usage: scripts/gpu/build_base.sh COMMIT}
sha=$(git rev-parse --verify "$commit^{commit}")
[ -f .cargo/config.toml ] || { echo "build_base.sh: no .cargo/config.toml; run scripts/setup.sh first" >&2; exit 1; }
src=target/base-src/$sha
out=target/base-build
if [ ! -d "$src" ]; then
  git worktree add --detach "$src" "$sha" >&2
fi
mkdir -p "$src/.cargo" && cp .cargo/config.toml "$src/.cargo/"
if [ ! -d "$out/release" ] && [ -d target/release ]; then
  mkdir -p "$out" && cp -a target/release "$out/" # registry crates stay fresh
fi
(cd "$src" && CARGO_TARGET_DIR="$root/$out" cargo build --release --quiet --features mlx) >&2
bin="$out/release/mlxbench.$sha"
cp "$out/release/mlxbench" "$bin"
echo "$root/$bin"
