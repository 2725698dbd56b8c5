#!/usr/bin/env bash
# The test command: installs what is missing (apt-get), builds, and runs every
# test (unit, integration with real JACK/OSC peers). Extra arguments go to
# ctest, e.g. scripts/test.sh -L unit
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${NEXTBEAT_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "$build"
ctest --output-on-failure -j 2 "$@"
