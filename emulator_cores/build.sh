#!/usr/bin/env bash
# Build Treazr's C parts into emulator_cores/build/ (or $TREAZR_NATIVE_DIR):
#   libtreazr_frontend.so       the libretro frontend's hot callbacks
#   treazr_demo_libretro.so     the demo core (a two-player game that needs no ROM)
# Idempotent: a library is rebuilt only when one of its sources or headers is newer.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${TREAZR_NATIVE_DIR:-$HERE/build}"
CC="${CC:-gcc}"
CFLAGS=(-O3 -fPIC -shared -std=c11 -Wall -Wextra -Werror -fvisibility=hidden)
mkdir -p "$OUT"

build() {  # build OUTPUT SOURCE... (headers in the source folders count as inputs)
  local target="$1"; shift
  local inputs=("$@" "$HERE"/frontend/*.h)
  local stale=0
  [ -f "$target" ] || stale=1
  for f in "${inputs[@]}"; do [ "$f" -nt "$target" ] && stale=1; done
  [ "$stale" -eq 0 ] && return 0
  echo "building $(basename "$target")" >&2
  "$CC" "${CFLAGS[@]}" -I"$HERE/frontend" -o "$target.tmp" "$@" -ldl
  mv -f "$target.tmp" "$target"
}

build "$OUT/libtreazr_frontend.so" "$HERE/frontend/treazr_frontend.c" "$HERE/frontend/treazr_colour.c"
if [ -f "$HERE/demo/treazr_demo.c" ]; then
  build "$OUT/treazr_demo_libretro.so" "$HERE/demo/treazr_demo.c"
fi
