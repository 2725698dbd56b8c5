#!/usr/bin/env bash
# Every Catch test case must reach ctest whole: catch_discover_tests splits
# a name at ';' into several ctest entries, and Catch reads '[' in a filter
# as a tag, so such a test's filter matches nothing and it "passes" without
# running (twelve did, until 2026-12). Lists each offending name and fails.
# Usage: check_test_names.sh SOURCE_DIR
set -uo pipefail
cd "$1" || exit 1
bad=$(git ls-files -co --exclude-standard -- 'tests/*.cpp' | xargs grep -nE 'TEST_CASE\("[^"]*[;[]' || true)
if [ -n "$bad" ]; then
  echo "FAIL: test names with ';' or '[' (ctest would split them or filter them away):" >&2
  echo "$bad" >&2
  exit 1
fi
echo "test names: ok"
