#!/usr/bin/env bash
# Build the one-file executable dist/treazr (Linux x86-64):   bash packaging/build.sh
#
# Idempotent: builds our C libraries if stale (emulator_cores/build.sh), installs PyInstaller into .venv
# when it is missing, and rebuilds dist/treazr only when a file it bundles is newer (FORCE=1 rebuilds).
# The libretro cores installed on this machine (/usr/lib/x86_64-linux-gnu/libretro, or
# $TREAZR_BUNDLE_CORES_FROM) are bundled with the shared libraries they need.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PYTHON="$VENV/bin/python"
DIST="$ROOT/dist"
WORK="$ROOT/build/pyinstaller"
CORES="${TREAZR_BUNDLE_CORES_FROM:-/usr/lib/x86_64-linux-gnu/libretro}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

[ -x "$PYTHON" ] || { echo "no virtual environment at $VENV: run ./dev.sh setup first" >&2; exit 1; }
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
  say "installing PyInstaller into .venv"
  "$PYTHON" -m pip install -q "pyinstaller>=6.6"
fi

bash emulator_cores/build.sh

# Everything the executable bundles; if none of it is newer than dist/treazr, there is nothing to do.
inputs() {
  find treazr assets emulator_cores packaging pyproject.toml -type f \
    ! -path '*/__pycache__/*' ! -name '*.pyc' 2>/dev/null
  find "$CORES" -maxdepth 1 -type f 2>/dev/null
  # dev.sh rewrites this stamp whenever it (re)installs the Python packages the bundle is made of.
  [ -f "$VENV/.treazr-installed" ] && echo "$VENV/.treazr-installed"
  return 0
}
if [ "${FORCE:-0}" != 1 ] && [ -x "$DIST/treazr" ] && [ -z "$(inputs | while read -r f; do
      [ "$f" -nt "$DIST/treazr" ] && echo "$f"; done | head -1)" ]; then
  say "dist/treazr is up to date ($(du -h "$DIST/treazr" | cut -f1))"
  exit 0
fi

say "building dist/treazr with PyInstaller (a few minutes)"
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" packaging/treazr.spec
# The bundle must not reach back into this checkout: a smoke test from an empty environment.
(cd / && env -i "$DIST/treazr" --version)
say "built dist/treazr ($(du -h "$DIST/treazr" | cut -f1))"
