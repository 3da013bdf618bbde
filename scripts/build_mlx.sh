#!/usr/bin/env bash
# Builds what the in-process `mlx` backend links, idempotently, on Linux and macOS alike:
# MLX itself comes prebuilt from PyPI at the exact version mlx-sys 0.7.0's mlx-c pins
# (ABI), mlx-c (shipped inside the mlx-sys crate) is built with CMake against it, the
# bindings are generated with mlx-sys's settings (tools/mlx-bindgen), and
# .cargo/config.toml gets cargo's `links` override that replaces mlx-sys's build script.
#   Linux: Debian's cmake, libclang-dev (bindgen), libopenblas0-pthread (fast BLAS);
#          PyPI's mlx-cpu (PLATFORM.md's route).
#   macOS: PyPI's mlx-metal (libmlx.dylib, headers and the precompiled mlx.metallib: no
#          Metal compiler, no full Xcode), PyPI's cmake where none is on PATH, libclang
#          from Apple's command-line tools (docs/mac.md). MLXBENCH_MLX_ROUTE=source leaves
#          mlx-sys to build MLX from source instead (full Xcode and its Metal toolchain).
#
#   scripts/build_mlx.sh          set up (or check that all is set up)
#   scripts/build_mlx.sh --plan   the checks and decisions only, installing nothing
#
# MLXBENCH_MLX=cpu|cuda|auto (Linux, default auto) picks the MLX the binary runs with:
# `cuda` (auto: when `nvidia-smi` reports a CUDA 13+ driver) also installs MLX's CUDA
# wheel (mlx-cuda-13, with the NVIDIA runtime wheels it requires) into target/mlx-cuda and
# points the binary's rpath at its libmlx.so. mlx-c and the bindings are built against
# the CPU wheel either way: both libraries export the same MLX symbols, and a binary built
# against one runs with the other (measured on an H200, ../shared/PLATFORM.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
MLX_VERSION="0.32.2"
OUT="$ROOT/target/mlx-native"

PLAN=0
[ "${1:-}" = --plan ] && PLAN=1
MARK="# Written by scripts/build_mlx.sh; do not edit. Replaces mlx-sys's build script."

if [ "$(platform)" = macos ]; then
  route=${MLXBENCH_MLX_ROUTE:-wheel}
  mac_preflight "$route"
  if [ "$route" = source ]; then
    log "route: source (mlx-sys builds MLX $MLX_VERSION with CMake and compiles its Metal shaders in the first cargo build, several minutes)"
    if [ "$PLAN" = 0 ] && [ -f .cargo/config.toml ] && [ "$(head -1 .cargo/config.toml)" = "$MARK" ]; then
      rm .cargo/config.toml
      log "removed the wheel route's .cargo/config.toml"
    fi
    exit 0
  fi
  log "route: wheel (mlx-metal==$MLX_VERSION from PyPI: libmlx.dylib, its headers and the precompiled mlx.metallib; no Metal compiler needed)"
  if command -v cmake >/dev/null 2>&1; then
    log "cmake: $(command -v cmake)"
  else
    log "cmake: none on PATH; PyPI's cmake goes into $VENV"
  fi
  [ "$PLAN" = 1 ] && exit 0
  ensure_venv
  pip_need "import importlib.metadata as m, sys; sys.exit(m.version('mlx-metal') != '$MLX_VERSION')" "mlx-metal==$MLX_VERSION"
  command -v cmake >/dev/null 2>&1 || pip_need "import cmake" cmake
  WHEEL=$("$PY" -c 'import mlx; print(list(mlx.__path__)[0])')
  for f in libmlx.dylib mlx.metallib; do
    [ -f "$WHEEL/lib/$f" ] || { log "$f missing under $WHEEL/lib"; exit 1; }
  done
  RUNTIME_LIB="$WHEEL/lib"
  CXX_LIB=c++
  flavor=metal
  # bindgen's libclang: the one of Apple's command-line tools (or Xcode's)
  if [ -z "${LIBCLANG_PATH:-}" ]; then
    dev=$(xcode-select -p)
    for d in "$dev/usr/lib" "$dev/Toolchains/XcodeDefault.xctoolchain/usr/lib"; do
      [ -f "$d/libclang.dylib" ] && export LIBCLANG_PATH="$d" && break
    done
  fi
  # MLX's wheel is built for macOS 14: mlx-c and the binary target the same
  CMAKE_EXTRA=(-DCMAKE_OSX_DEPLOYMENT_TARGET=14.0 -DCMAKE_OSX_ARCHITECTURES=arm64)
  ENV_EXTRA='MACOSX_DEPLOYMENT_TARGET = "14.0"'
else
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v c++ >/dev/null 2>&1 || need+=(g++)
# libclang-dev gives bindgen libclang.so (libclang-cpp, often present, is not it)
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || need+=(libclang-dev)
ls /usr/lib/*-linux-gnu/libopenblas.so.0 >/dev/null 2>&1 || need+=(libopenblas0-pthread)
log "route: wheel (mlx-cpu==$MLX_VERSION from PyPI)${need[*]:+; Debian packages to install: ${need[*]}}"
[ "$PLAN" = 1 ] && exit 0
apt_install "${need[@]}"
ensure_venv
pip_need "import importlib.metadata as m, sys; sys.exit(m.version('mlx-cpu') != '$MLX_VERSION')" "mlx-cpu==$MLX_VERSION"
WHEEL=$("$PY" -c 'import mlx; print(list(mlx.__path__)[0])')
[ -f "$WHEEL/lib/libmlx.so" ] || { log "libmlx.so missing under $WHEEL"; exit 1; }

flavor="${MLXBENCH_MLX:-auto}"
if [ "$flavor" = auto ]; then
  flavor=cpu
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi 2>/dev/null | grep -Eq 'CUDA Version: *(1[3-9]|[2-9][0-9])'; then
    flavor=cuda
  fi
fi
RUNTIME_LIB="$WHEEL/lib"
case "$flavor" in
  cpu) ;;
  cuda)
    CUDA_DIR="$ROOT/target/mlx-cuda"
    if [ ! -f "$CUDA_DIR/mlx/lib/libmlx.so" ]; then
      log "installing MLX's CUDA wheel (mlx-cuda-13==$MLX_VERSION and its NVIDIA runtime wheels) into $CUDA_DIR"
      "$PY" -m pip install --quiet --disable-pip-version-check --target "$CUDA_DIR" "mlx-cuda-13==$MLX_VERSION"
    fi
    RUNTIME_LIB="$CUDA_DIR/mlx/lib"
    ;;
  *) log "MLXBENCH_MLX must be cpu, cuda or auto, not $flavor"; exit 2 ;;
esac
CXX_LIB=stdc++
CMAKE_EXTRA=()
ENV_EXTRA=""
fi

# mlx-c's source ships inside the mlx-sys crate; ask cargo where it unpacked it.
cargo fetch --quiet
MLX_SYS=$(cargo metadata --format-version 1 --quiet | "$PY" -c '
import json, os, sys
pkgs = [p for p in json.load(sys.stdin)["packages"] if p["name"] == "mlx-sys"]
if not pkgs: sys.exit("mlx-sys is not in the dependency graph")
print(os.path.dirname(pkgs[0]["manifest_path"]))')
MLXC="$MLX_SYS/src/mlx-c"
COMPAT="$ROOT/native/mlxbench_compat.h"

mkdir -p "$OUT/out"
if [ ! -f "$OUT/mlxc-build/libmlxc.a" ] || [ "$COMPAT" -nt "$OUT/mlxc-build/libmlxc.a" ] || \
   ! grep -q "$WHEEL" "$OUT/mlxc-build/CMakeCache.txt" 2>/dev/null; then
  log "building mlx-c against $WHEEL (about a minute)"
  cmake -S "$MLXC" -B "$OUT/mlxc-build" -DMLX_C_USE_SYSTEM_MLX=ON -DMLX_DIR="$WHEEL/share/cmake/MLX" \
    -DBUILD_SHARED_LIBS=OFF -DMLX_C_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release "${CMAKE_EXTRA[@]}" \
    "-DCMAKE_CXX_FLAGS=-include $COMPAT" "-DCMAKE_C_FLAGS=-include $COMPAT" >"$OUT/cmake.log" 2>&1 \
    || { tail -20 "$OUT/cmake.log"; exit 1; }
  cmake --build "$OUT/mlxc-build" -j"$(getconf _NPROCESSORS_ONLN)" >>"$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
fi

if [ ! -s "$OUT/out/bindings.rs" ] || [ "$COMPAT" -nt "$OUT/out/bindings.rs" ]; then
  log "generating bindings"
  cargo build --quiet --release --manifest-path tools/mlx-bindgen/Cargo.toml --target-dir "$ROOT/target/tools"
  "$ROOT/target/tools/release/mlx-bindgen" "$MLXC" "$COMPAT" "$OUT/out/bindings.rs.part"
  mv "$OUT/out/bindings.rs.part" "$OUT/out/bindings.rs"
fi

TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
mkdir -p .cargo
cat > .cargo/config.toml.part <<CFG
$MARK
[target.$TRIPLE.mlx]
rustc-link-search = ["$OUT/mlxc-build", "$WHEEL/lib"]
rustc-link-lib = ["static=mlxc", "dylib=mlx", "dylib=$CXX_LIB"]
rustc-env = { OUT_DIR = "$OUT/out" }

[env]
MLXBENCH_MLX_LIB_DIR = "$RUNTIME_LIB"
$ENV_EXTRA
CFG
mv .cargo/config.toml.part .cargo/config.toml
log "ready: MLX $MLX_VERSION ($flavor) at $RUNTIME_LIB"
