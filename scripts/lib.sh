# Sourced by the set-up scripts: the project's Python virtual environment and the one
# place that asks for Debian packages.
#   ROOT  the repository          VENV  $ROOT/.venv (override with MLXBENCH_VENV)
#   PY    the venv's python       PATH  starts with the venv's bin/, so `python3` in
#                                       scenarios' `launch` and in tests is the venv's
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MLXBENCH_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# "macos" or "linux": what the set-up does differs (uname, so tests can stub it).
platform() {
  if [ "$(uname -s)" = Darwin ]; then echo macos; else echo linux; fi
}

# Installs Debian packages: directly as root, through passwordless sudo otherwise, and
# else stops with the command for the user to run. On a Mac there is no apt-get: it
# stops naming the Homebrew formulae instead (the set-up itself needs none of them).
apt_install() {
  (($#)) || return 0
  if [ "$(platform)" = macos ]; then
    log "missing on this Mac: $*; install them with  brew install $*  (https://brew.sh) and try again"
    exit 1
  fi
  log "installing Debian packages: $*"
  local run=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      run=(sudo -n)
    else
      log "not root and no passwordless sudo: run  sudo apt-get install -y $*  and try again"
      exit 1
    fi
  fi
  "${run[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq "$@" >/dev/null
}

# The real Ollama: ../shared/tools/ollama beside the checkout (Linux), `ollama` on PATH
# (Homebrew's, or the one Ollama.app links), or inside Ollama.app.
ollama_binary() {
  local p shared="$ROOT/../shared/tools/ollama/bin/ollama"
  [ "$(platform)" = linux ] || shared=""  # a Linux build
  for p in "$shared" "$(command -v ollama 2>/dev/null || true)" /Applications/Ollama.app/Contents/Resources/ollama; do
    if [ -n "$p" ] && [ -x "$p" ]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# The first Python 3.10 or newer (MLX 0.32's wheels need it) of $PYTHON, python3 and
# python3.13..python3.10 on PATH; nothing printed when there is none.
pick_python() {
  local p
  for p in ${PYTHON:-} python3 python3.13 python3.12 python3.11 python3.10; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# Installs Homebrew formulae (or `--cask NAME`) on a Mac, else stops naming the command.
brew_install() {
  (($#)) || return 0
  if ! command -v brew >/dev/null 2>&1; then
    log "missing on this Mac: $*; install Homebrew (https://brew.sh), then run  brew install $*"
    exit 1
  fi
  log "installing with Homebrew: $*"
  brew install --quiet "$@"
}

# Creates the virtual environment once (needs no root: packages go into $VENV); the
# system's own Python is never installed into.
ensure_venv() {
  if [ ! -x "$PY" ]; then
    local base
    base=$(pick_python) || base="${PYTHON:-python3}"
    command -v "$base" >/dev/null 2>&1 || apt_install python3 python3-venv
    if ! "$base" -m venv "$VENV" >/dev/null 2>&1; then
      apt_install python3-venv
      "$base" -m venv "$VENV"
    fi
    log "created the Python virtual environment $VENV"
  fi
  export PATH="$VENV/bin:$PATH"
}

# pip_need "import check" packages...: installs the packages into the venv unless the
# check imports cleanly.
pip_need() {
  local check="$1"
  shift
  if ! "$PY" -c "$check" >/dev/null 2>&1; then
    log "installing into $VENV: $*"
    "$PY" -m pip install --quiet --disable-pip-version-check "$@"
  fi
}

# macOS: checks what the set-up cannot install itself and stops naming every missing
# piece with the command that fixes it. $1 is the MLX route (docs/mac.md): `wheel`
# (default: PyPI's prebuilt libmlx.dylib and mlx.metallib, so no Metal compiler) or
# `source` (mlx-sys builds MLX with CMake and compiles its Metal shaders, which needs the
# full Xcode and its Metal toolchain).
mac_preflight() {
  local route=${1:-wheel} missing=() arch ver major xcode
  arch=$(uname -m)
  [ "$arch" = arm64 ] || missing+=("an Apple Silicon Mac (M1 or newer): this one is $arch, and MLX's Metal backend runs on Apple Silicon only")
  ver=$(sw_vers -productVersion 2>/dev/null || echo unknown)
  major=${ver%%.*}
  if ! [ "$major" -ge 14 ] 2>/dev/null; then
    missing+=("macOS 14 (Sonoma) or newer, which MLX 0.32 needs: this is macOS $ver; update in System Settings > General > Software Update")
  fi
  if ! xcode=$(xcode-select -p 2>/dev/null) || [ -z "$xcode" ]; then
    missing+=("Apple's command-line tools (clang, git, the macOS SDK): run  xcode-select --install")
  fi
  command -v cargo >/dev/null 2>&1 || missing+=("Rust (cargo): run  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh  and open a new terminal")
  if ! pick_python >/dev/null; then
    missing+=("Python 3.10 or newer for the project's virtual environment (Apple's python3 is 3.9): run  brew install python@3.12  (the set-up finds python3.12 on PATH)")
  fi
  if [ "$route" = source ]; then
    case "$xcode" in
      *.app/*) ;;
      *) missing+=("the full Xcode app selected for builds (MLXBENCH_MLX_ROUTE=source compiles MLX's Metal shaders): install Xcode from the App Store, then run  sudo xcode-select -s /Applications/Xcode.app") ;;
    esac
    xcrun -sdk macosx metal --version >/dev/null 2>&1 ||
      missing+=("Xcode's Metal toolchain (Xcode 26 downloads it separately): run  xcodebuild -downloadComponent MetalToolchain")
    command -v cmake >/dev/null 2>&1 || missing+=("CMake for mlx-sys's build: run  brew install cmake")
  elif [ "$route" != wheel ]; then
    missing+=("a known MLX route: MLXBENCH_MLX_ROUTE is \"$route\"; use wheel (the default) or source")
  fi
  if ((${#missing[@]})); then
    log "this Mac lacks what the set-up needs:"
    local m
    for m in "${missing[@]}"; do log "  - $m"; done
    exit 1
  fi
  log "macOS $ver on Apple Silicon, command-line tools at $xcode: ready for the $route route"
}
