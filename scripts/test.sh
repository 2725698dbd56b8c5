#!/usr/bin/env bash
# The test command: installs what is missing (apt-get), builds, and runs every
# test (unit, integration with real JACK/OSC peers). Extra arguments go to
# ctest, e.g. scripts/test.sh -L unit. Fails on a skip that is not allowed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${NEXTBEAT_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "$build"
# A skip is not a pass: every skip is listed at the end, and one that is not
# allowed (tests/tools/check_skips.py: only no ../shared data or no GPU) fails the run.
status=0
ctest --output-on-failure -j 2 --output-junit "$build/ctest-junit.xml" "$@" || status=$?
/usr/bin/python3 "$root/tests/tools/check_skips.py" "$build/ctest-junit.xml" || { [ "$status" -ne 0 ] || status=1; }
exit "$status"
