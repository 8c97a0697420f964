#!/usr/bin/env bash
# Make a minimal Debian root (debootstrap --variant=minbase: glibc, coreutils, no Python, no libretro,
# none of this machine's packages) to prove dist/treazr runs on a bare system:
#   sudo bash packaging/debian_root.sh [DIR]        (default DIR: /var/tmp/treazr-debian-root)
# Idempotent: an existing complete root is reused. Needs root and a Debian mirror (apt's own is used).
set -euo pipefail
DIR="${1:-${TREAZR_DEBIAN_ROOT:-/var/tmp/treazr-debian-root}}"
SUITE="${TREAZR_DEBIAN_SUITE:-bookworm}"
STAMP="$DIR/.treazr-debian-root-complete"

[ -f "$STAMP" ] && { echo "$DIR"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "debootstrap needs root" >&2; exit 1; }
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9  # two test runs at once: the second waits, then finds the root made
[ -f "$STAMP" ] && { echo "$DIR"; exit 0; }
command -v debootstrap >/dev/null || { echo "install debootstrap first (apt-get install debootstrap)" >&2; exit 1; }

# The first mirror apt is configured with (deb822 or one-line format), else Debian's own.
mirror=$( (grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}';
           grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}') | grep -v security | head -1 || true)
mirror="${mirror:-http://deb.debian.org/debian}"

rm -rf "$DIR.partial"
debootstrap --variant=minbase "$SUITE" "$DIR.partial" "$mirror" >&2
rm -rf "$DIR"
mv "$DIR.partial" "$DIR"
touch "$STAMP"
echo "$DIR"
