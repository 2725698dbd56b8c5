#!/usr/bin/env bash
# Configures and builds nextbeat (and its tests) into build/, two jobs at a
# time: a LibTorch translation unit needs ~1 GB and there are 2 cores.
# Usage: scripts/build.sh [extra cmake -D options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${NEXTBEAT_BUILD_DIR:-$root/build}
# Prefix /usr: what the Debian package installs (scripts/package.sh), so that
# the bundled-model and config paths compiled in are the installed ones.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr -DNEXTBEAT_BUILD_TESTS=ON "$@"
cmake --build "$build" -j "${NEXTBEAT_JOBS:-2}"
