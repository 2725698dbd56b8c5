#!/usr/bin/env bash
# `nextbeat doctor`: every check prints a line, each warning and failure says
# what to do, and the exit code says whether the live path meets its budget.
set -uo pipefail
nextbeat=$1
fail() { echo "FAIL: $*" >&2; cat "$tmp/out" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export JACK_DEFAULT_SERVER=nextbeat-test-no-such-server-$$

# A generous budget: the live path meets it on any machine that runs the tests.
"$nextbeat" doctor -o engine.latency_budget_ms=100 >"$tmp/out" 2>&1
status=$?
[ $status -eq 0 ] || fail "exit $status with a 100 ms budget"
for check in "real-time scheduling" "CPU governor" "BLAS" "JACK" "ALSA sequencer" "soundfont" "model default:events" \
             "beat rollout p99" "memory" "the live path can meet its budget here"; do
  grep -q "$check" "$tmp/out" || fail "no line about '$check'"
done
# Every warn/FAIL line is followed by what to do.
awk '/^(warn|FAIL) /{want=1; next} want{ if ($1 != "fix:") bad=1; want=0 } END{exit bad}' "$tmp/out" ||
  fail "a warning without a fix"

# A model that cannot load: the live path cannot work, exit 1, the line says why.
"$nextbeat" doctor -o model.path="$tmp/missing.nbm" >"$tmp/out" 2>&1
status=$?
[ $status -eq 1 ] || fail "exit $status with a missing model"
grep -q "^FAIL  model .*missing.nbm" "$tmp/out" || fail "the missing model is not named"
grep -q "cannot meet its budget" "$tmp/out" || fail "no verdict"
echo "doctor: ok"
