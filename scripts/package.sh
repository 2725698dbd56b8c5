#!/usr/bin/env bash
# Builds the Debian package: /usr/bin/nextbeat, the bundled models in
# /usr/share/nextbeat, the default config as a conffile in /etc/nextbeat, the
# systemd unit, the man page and the copyright file.
# Usage: scripts/package.sh [OUTPUT_DIR]     (default: build/package)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${NEXTBEAT_BUILD_DIR:-$root/build}
out=${1:-$build/package}
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
mkdir -p "$out"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$out"
ls "$out"/*.deb
