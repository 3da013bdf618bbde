#!/usr/bin/env bash
# Packs what a run on the `device` tool's GPU machine needs into two ignored folders, each
# under one call's 64 MiB: the machine has no network, MLX's CUDA wheel (87 MB) is too big
# for one call, and the machine keeps /tmp only while warm (30 s after a call).
#   .gpu1/  libmlx.so (xz, first part), its headers (MLX compiles kernels at run time and
#           needs them: without them every kernel fails with "cannot open source file
#           cuda/std/tuple"), its bundled libraries, the mlx and mlx-lm wheels, and
#           BASE_BIN (an earlier build to compare, if given)
#   .gpu2/  libmlx.so's second part and the stripped release build of mlxbench
# Then, back to back (within 30 s):
#   run (carry .gpu1): mkdir -p /tmp/stage && cp .gpu1/* /tmp/stage/
#   run (carry .gpu2): source scripts/gpu/setup.sh && <what to measure>
#   scripts/gpu/pack.sh [BASE_BIN]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
v=0.32.2
work=target/gpu-pack
mkdir -p "$work/whl" .gpu1 .gpu2
rm -f .gpu1/* .gpu2/*
if [ ! -f "$work/libmlx.so.xz" ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_35_x86_64 -d "$work/whl" "mlx==$v" "mlx-cuda-13==$v" "mlx-lm==$v"
  rm -rf "$work/cuda" && mkdir -p "$work/cuda"
  (cd "$work/cuda" && python3 -m zipfile -e ../whl/mlx_cuda_13-$v-*.whl .)
  xz -9 -T0 -c "$work/cuda/mlx/lib/libmlx.so" > "$work/libmlx.so.xz.tmp"
  mv "$work/libmlx.so.xz.tmp" "$work/libmlx.so.xz"
fi
half=$(( ($(stat -c %s "$work/libmlx.so.xz") + 1) / 2 ))
split -b "$half" "$work/libmlx.so.xz" "$work/libmlx.xz."
mv "$work/libmlx.xz.aa" .gpu1/ && mv "$work/libmlx.xz.ab" .gpu2/
tar cJf .gpu1/inc.tar.xz -C "$work/cuda" mlx/include mlx/share
tar cJf .gpu1/libs.tar.xz -C "$work/cuda" mlx_cuda_13.libs
cp "$work"/whl/mlx-$v-*.whl "$work"/whl/mlx_lm-$v-*.whl .gpu1/
strip_into() { # binary, destination: stripped, without the OpenBLAS the GPU machine lacks
  cp "$1" "$2" && strip "$2"
  if readelf -d "$2" | grep -q libopenblas; then
    command -v patchelf >/dev/null || { echo "pack.sh: needs patchelf (apt-get install patchelf)" >&2; exit 1; }
    patchelf --remove-needed libopenblas.so.0 "$2"
  fi
}
strip_into target/release/mlxbench .gpu2/mlxbench
if [ -n "${1:-}" ]; then strip_into "$1" .gpu1/mlxbench.base; fi
du -sh .gpu1 .gpu2
