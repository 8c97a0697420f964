#!/usr/bin/env bash
# Set everything up (idempotent, fast when already done), then run what was asked:
#   ./dev.sh serve [ARGS...]   start the server (data in ./treazr-data)
#   ./dev.sh test  [PYTEST ARGS...]   lint, type checks and the whole test suite; first it checks the test ROMs
#                                     (listed in tests/roms.toml) are in $TREAZR_TEST_ROMS (default ../shared/roms)
#   ./dev.sh setup             only set up
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=$ROOT/.venv

DEBIAN_PACKAGES=(python3 python3-venv gcc libc6-dev
  libretro-nestopia libretro-gambatte libretro-mgba libretro-bsnes-mercury-performance libretro-beetle-pce-fast
  libgl1  # parallel_n64 (from the stable-retro wheel) links libGL even when it renders in software
  retroarch valgrind chromium fonts-dejavu-core libnss3-tools systemd debootstrap)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_debian_packages() {
  local missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Treazr needs these Debian packages. Install them, then run this again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_python_packages() {
  local stamp=$VENV/.treazr-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment in .venv"
    python3 -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing Python packages"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[test]"
    echo "$want" > "$stamp"
  fi
}

build_native() {
  if [ -x emulator_cores/build.sh ]; then
    bash emulator_cores/build.sh
  fi
}

check_test_roms() {  # before setup, so a clone without the ROMs stops at once instead of after installing
  command -v python3 >/dev/null 2>&1 || install_debian_packages
  python3 tests/support/rom_folder.py
}

setup() {
  install_debian_packages
  install_python_packages
  build_native
}

command=${1:-serve}
shift || true
case "$command" in
  setup)
    setup ;;
  serve)
    setup
    exec "$VENV/bin/treazr" serve "$@" ;;
  test)
    check_test_roms
    setup
    say "ruff"
    lint_paths=()
    for path in treazr tests benchmarks packaging; do [ -e "$path" ] && lint_paths+=("$path"); done
    "$VENV/bin/ruff" check "${lint_paths[@]}"
    say "mypy"
    "$VENV/bin/mypy"
    say "pytest"
    exec "$VENV/bin/python" -m pytest "$@" ;;
  *)
    echo "usage: ./dev.sh [serve|test|setup] [ARGS...]" >&2
    exit 2 ;;
esac
