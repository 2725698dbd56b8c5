#!/usr/bin/env bash
# The run command: installs what is missing, builds, and runs the daemon on
# the bundled default config. With no sound card and no JACK server (a build
# machine, a fresh container), it starts `jackd -d dummy` so that MIDI ports
# exist, and stops it again on exit. Extra arguments go to `nextbeat run`,
# e.g. scripts/run.sh -o sampling.temperature=0.8
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${NEXTBEAT_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"
"$root/scripts/build.sh"

jack_pid=
# jack_wait -c exits 0 either way; it prints "running" or "not running".
if [ "$(JACK_NO_START_SERVER=1 jack_wait -c 2>/dev/null)" != running ] && [ ! -e /dev/snd/seq ]; then
  echo "run.sh: no sound card and no JACK server: starting 'jackd -d dummy'" >&2
  jackd --no-realtime -d dummy -r 48000 -p 256 >"${TMPDIR:-/tmp}/nextbeat-jackd.log" 2>&1 &
  jack_pid=$!
  trap 'kill "$jack_pid" 2>/dev/null; wait "$jack_pid" 2>/dev/null' EXIT
  JACK_NO_START_SERVER=1 jack_wait -w -t 10 >/dev/null || { echo "run.sh: jackd did not start" >&2; exit 1; }
fi
# Not exec: the trap above stops jackd when the daemon ends.
"$build/daemon/nextbeat" run "$@"
