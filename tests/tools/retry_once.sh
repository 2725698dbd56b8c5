#!/usr/bin/env bash
# retry_once.sh CMD [ARGS...]
#
# Runs CMD; if it fails (any status but 0 and 77, "skipped"), says so and runs
# it once more, exiting with the second run's status. For tests against a real
# jackd 1.9.21 only: now and then its client library cannot open a client on a
# server that has just answered, or a killed server loses a MIDI event. A real
# fault fails both runs; a skip is not retried.
set -uo pipefail

[[ $# -ge 1 ]] || {
  echo "usage: retry_once.sh CMD [ARGS...]" >&2
  exit 2
}
"$@"
status=$?
if [[ $status -eq 0 || $status -eq 77 ]]; then exit "$status"; fi
echo "retry_once.sh: failed once (exit $status); one more run: $*" >&2
exec "$@"
