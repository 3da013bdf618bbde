#!/usr/bin/env bash
# Best effort, by hand (not part of CI): links the `mlx` feature's binary for
# aarch64-apple-darwin on Linux, to show that the wheel route's link inputs are complete
# (docs/mac.md). Uses ../shared/tools/darwin (zig as C/C++ compiler and linker):
#   1. PyPI's mlx-metal==0.32.2 macOS arm64 wheel, unpacked (libmlx.dylib, headers)
#   2. mlx-c compiled for arm64 macOS with zig c++ against the wheel's headers
#   3. .tbd stubs for the macOS frameworks the binary links (zig has libSystem only):
#      each lists the symbols the link asks for, so nothing of Apple's SDK is copied
#   4. cargo build --release --features mlx --target aarch64-apple-darwin, with the
#      same `links` override scripts/build_mlx.sh writes on a Mac
# It proves the objects and libraries resolve; not that the binary runs (no Mac here).
#
#   scripts/ci/darwin_link.sh     (DARWIN_CHECK: the tool, as in darwin.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib.sh"
tool=${DARWIN_CHECK:-$root/../shared/tools/darwin/darwin-check.sh}
[ -f "$tool" ] || { echo "darwin link: SKIPPED ($tool not found)"; exit 0; }
MLX_VERSION=0.32.2
work="$root/target/darwin-link"
home=${DARWIN_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/darwin-check}
mkdir -p "$work"
DARWIN_PREPARE_ONLY=1 bash "$tool" "$root" >/dev/null 2>&1
zigs=("$home"/zigenv/lib/python3*/site-packages/ziglang/zig)
export DARWIN_ZIG=${zigs[0]}
zcxx="$home/bin/zc++"

# 1. the wheel
wheel="$work/wheel/mlx"
if [ ! -f "$wheel/lib/libmlx.dylib" ]; then
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform macosx_14_0_arm64 -d "$work/wheels" "mlx-metal==$MLX_VERSION"
  whl=("$work"/wheels/mlx_metal-*.whl)
  "$PY" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "${whl[0]}" "$work/wheel"
fi
echo "darwin link: wheel at $wheel"

# 2. mlx-c for arm64 macOS
MLXC=$(cargo metadata --format-version 1 --quiet --manifest-path "$root/Cargo.toml" | "$PY" -c '
import json, os, sys
p = [p for p in json.load(sys.stdin)["packages"] if p["name"] == "mlx-sys"][0]
print(os.path.join(os.path.dirname(p["manifest_path"]), "src", "mlx-c"))')
lib="$work/mlxc/libmlxc.a"
if [ ! -f "$lib" ]; then
  mkdir -p "$work/mlxc/obj"
  sources=("$MLXC"/mlx/c/*.cpp)
  echo "darwin link: compiling mlx-c (${#sources[@]} files) with zig c++"
  for src in "${sources[@]}"; do
    # -include cmath: with zig's macOS headers, float.h before complex.h leaves NAN and
    # INFINITY undefined for libc++'s <complex> (Apple's SDK has no such quirk)
    "$zcxx" -std=c++20 -O1 -fPIC -include cmath -DACCELERATE_NEW_LAPACK -D_METAL_ -I "$MLXC" -I "$wheel/include" \
      -I "$wheel/include/metal_cpp" -c "$src" -o "$work/mlxc/obj/$(basename "$src" .cpp).o"
  done
  "$DARWIN_ZIG" ar rcs "$lib" "$work"/mlxc/obj/*.o
fi
echo "darwin link: $lib"

# 3 and 4: link; on undefined framework symbols, write .tbd stubs listing them and retry
stubs="$work/sdkstubs"
mkdir -p "$stubs"
bindings="$root/target/mlx-native/out"
[ -s "$bindings/bindings.rs" ] || bash "$root/scripts/build_mlx.sh"
link() {
  DARWIN_CMD=build DARWIN_FRAMEWORKS="$stubs" DARWIN_TARGET_DIR="$work/target" bash "$tool" "$root" -- \
    --release --bin mlxbench --features mlx \
    --config "target.aarch64-apple-darwin.mlx.rustc-link-search=[\"$work/mlxc\", \"$wheel/lib\"]" \
    --config 'target.aarch64-apple-darwin.mlx.rustc-link-lib=["static=mlxc", "dylib=mlx", "dylib=c++"]' \
    --config "target.aarch64-apple-darwin.mlx.rustc-env.OUT_DIR=\"$bindings\"" \
    --config "env.MLXBENCH_MLX_LIB_DIR=\"$wheel/lib\""
}
for attempt in 1 2 3 4; do
  if link > "$work/link.log" 2>&1; then
    bin="$work/target/aarch64-apple-darwin/release/mlxbench"
    echo "darwin link: linked $bin"
    file "$bin" 2>/dev/null || true
    echo "darwin link: stubbed (Apple's SDK provides them on a Mac): $(tr -d ' \n' < "$stubs/symbols.json")"
    exit 0
  fi
  echo "darwin link: attempt $attempt failed; stubbing what the linker asked for" >&2
  "$PY" "$root/scripts/ci/tbd_stubs.py" "$work/link.log" "$stubs" || break
done
tail -40 "$work/link.log" >&2
exit 1
