#!/usr/bin/env bash
# Builds what the in-process `mlx` backend links on Linux, idempotently (PLATFORM.md's route):
#   - Debian: cmake, libclang-dev (bindgen), libopenblas0-pthread (fast BLAS)
#   - PyPI (into the project's .venv): mlx-cpu==0.32.2, the exact MLX that mlx-sys
#     0.7.0's mlx-c pins (ABI)
#   - mlx-c (shipped inside the mlx-sys crate) built with CMake against that wheel
#   - bindings.rs generated with mlx-sys's settings (tools/mlx-bindgen)
#   - .cargo/config.toml: cargo's `links` override replacing mlx-sys's build script
# On macOS nothing is needed: mlx-rs builds MLX with Metal itself.
#
# MLXBENCH_MLX=cpu|cuda|auto (default auto) picks the MLX the binary runs with: `cuda`
# (auto: when `nvidia-smi` reports a CUDA 13+ driver) also installs MLX's CUDA wheel
# (mlx-cuda-13, with the NVIDIA runtime wheels it requires) into target/mlx-cuda and
# points the binary's rpath at its libmlx.so. mlx-c and the bindings are built against
# the CPU wheel either way: both libraries export the same MLX symbols, and a binary built
# against one runs with the other (measured on an H200, ../shared/PLATFORM.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
MLX_VERSION="0.32.2"
OUT="$ROOT/target/mlx-native"

if [ "$(uname -s)" = "Darwin" ]; then
  log "macOS: mlx-rs builds MLX with Metal; nothing to do"
  exit 0
fi

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v c++ >/dev/null 2>&1 || need+=(g++)
# libclang-dev gives bindgen libclang.so (libclang-cpp, often present, is not it)
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || need+=(libclang-dev)
ls /usr/lib/*-linux-gnu/libopenblas.so.0 >/dev/null 2>&1 || need+=(libopenblas0-pthread)
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
    -DBUILD_SHARED_LIBS=OFF -DMLX_C_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS=-include $COMPAT" "-DCMAKE_C_FLAGS=-include $COMPAT" >"$OUT/cmake.log" 2>&1 \
    || { tail -20 "$OUT/cmake.log"; exit 1; }
  cmake --build "$OUT/mlxc-build" -j"$(nproc)" >>"$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
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
# Written by scripts/build_mlx.sh; do not edit. Replaces mlx-sys's build script.
[target.$TRIPLE.mlx]
rustc-link-search = ["$OUT/mlxc-build", "$WHEEL/lib"]
rustc-link-lib = ["static=mlxc", "dylib=mlx", "dylib=stdc++"]
rustc-env = { OUT_DIR = "$OUT/out" }

[env]
MLXBENCH_MLX_LIB_DIR = "$RUNTIME_LIB"
CFG
mv .cargo/config.toml.part .cargo/config.toml
log "ready: MLX $MLX_VERSION ($flavor) at $RUNTIME_LIB"
