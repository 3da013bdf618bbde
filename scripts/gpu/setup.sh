# Sourced on the GPU machine after scripts/gpu/pack.sh's two folders arrived (.gpu1's
# files copied to /tmp/stage by the call before, .gpu2 carried by this one): installs MLX's
# CUDA build and mlx-lm into the image's Python, and exports what scripts/bench_shapes.sh
# and the native engine need (LD_LIBRARY_PATH, MLXBENCH_BIN; BASE_BIN when packed).
# shellcheck shell=bash
SP=$(python3 -c 'import site; print(site.getsitepackages()[0])')
if [ ! -f "$SP/mlx/lib/libmlx.so" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile /tmp/stage/mlx-*.whl /tmp/stage/mlx_lm-*.whl || return 1
  mkdir -p "$SP/mlx/lib"
  cat /tmp/stage/libmlx.xz.aa .gpu2/libmlx.xz.ab | xz -d > "$SP/mlx/lib/libmlx.so" || return 1
  tar xJf /tmp/stage/libs.tar.xz -C "$SP" || return 1
fi
[ -d "$SP/mlx/include/cccl" ] || tar xJf /tmp/stage/inc.tar.xz -C "$SP" || return 1
export LD_LIBRARY_PATH="$SP/mlx/lib"
MLXBENCH_BIN="$PWD/.gpu2/mlxbench"
export MLXBENCH_BIN
if [ -x /tmp/stage/mlxbench.base ]; then
  BASE_BIN=/tmp/stage/mlxbench.base
  export BASE_BIN
fi
python3 -c "import mlx.core as mx; print(mx.default_device(), mx.__version__)"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader
