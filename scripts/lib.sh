# Sourced by the set-up scripts: the project's Python virtual environment and the one
# place that asks for Debian packages.
#   ROOT  the repository          VENV  $ROOT/.venv (override with MLXBENCH_VENV)
#   PY    the venv's python       PATH  starts with the venv's bin/, so `python3` in
#                                       scenarios' `launch` and in tests is the venv's
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MLXBENCH_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# Installs Debian packages: directly as root, through passwordless sudo otherwise, and
# else stops with the command for the user to run.
apt_install() {
  (($#)) || return 0
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

# Creates the virtual environment once (needs no root: packages go into $VENV).
ensure_venv() {
  if [ ! -x "$PY" ]; then
    local base="${PYTHON:-python3}"
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
