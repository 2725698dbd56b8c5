#!/usr/bin/env bash
# devices_test.sh with-jack|without-jack NEXTBEAT
#
# Integration test of `nextbeat devices` (see tests/io/CMakeLists.txt).
#
#   with-jack     run under tests/tools/with_jackd.sh: adds two JACK MIDI
#                 clients with known port names and checks that the listing
#                 shows them, and the JACK audio device of the dummy backend.
#   without-jack  no JACK server reachable: checks that the listing still
#                 succeeds, says why JACK cannot be opened, says that no MIDI
#                 API can be opened (unless this machine has an ALSA
#                 sequencer), and starts no JACK server.
#
# Asserts behaviour, not timing: the time limits below only turn a hang into a
# failure with a message instead of a CTest timeout.
set -euo pipefail

readonly kHangLimitS=30

mode="${1:-}"
nextbeat="${2:-}"
[[ ( "$mode" == with-jack || "$mode" == without-jack ) && -x "$nextbeat" ]] || {
  echo "usage: devices_test.sh with-jack|without-jack NEXTBEAT" >&2
  exit 2
}

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/devices_test.XXXXXX")"
client_pids=()
cleanup() {
  local status=$?
  # SIGINT: the jackd2 example clients close their JACK client on it. A client
  # that just dies costs jackd seconds of timeouts (see with_jackd.sh).
  for pid in "${client_pids[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work_dir"
  exit "$status"
}
trap cleanup EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# Runs `nextbeat devices`, leaving stdout, stderr and the exit status in
# $work_dir; shows them in the test log.
run_devices() {
  local status=0
  timeout "$kHangLimitS" "$@" "$nextbeat" devices >"$work_dir/out" 2>"$work_dir/err" || status=$?
  echo "$status" >"$work_dir/status"
  echo "--- nextbeat devices: exit status $status; stdout:"
  cat "$work_dir/out"
  echo "--- stderr:"
  cat "$work_dir/err"
  echo "---"
  if [[ $status -eq 124 ]]; then
    fail "nextbeat devices did not return within ${kHangLimitS} s (hang)"
  elif [[ $status -ne 0 ]]; then
    fail "nextbeat devices exited with $status, expected 0"
  fi
}

# The lines of one section ("MIDI ..." or "Audio") of the listing.
section() {
  awk -v name="$1" '/^[^ ]/ { in_section = (index($0, name) == 1); next } in_section' "$work_dir/out"
}

expect_line() {  # SECTION EXTENDED-REGEX WHAT
  # Not a pipe into grep -q: under pipefail, grep quitting early can fail awk.
  grep -Eq -- "$2" <<<"$(section "$1")" || fail "$3 (no line matching /$2/ under $1)"
}

expect_no_library_noise() {
  # What RtMidi, RtAudio, libjack and alsa-lib print when left alone.
  if grep -Eq 'Cannot connect to server|JACK server not running\?|ALSA lib|RtApi|MidiIn|MidiOut' \
    "$work_dir/err"; then
    fail "library messages leaked to stderr instead of being reported in the listing"
  fi
}

wait_for_port() {  # PORT
  local deadline=$((SECONDS + kHangLimitS))
  until jack_lsp 2>/dev/null | grep -Fqx -- "$1"; do
    if ((SECONDS >= deadline)); then
      echo "JACK port $1 did not appear; the test client failed to start" >&2
      exit 1
    fi
    sleep 0.1
  done
}

if [[ "$mode" == with-jack ]]; then
  [[ -n "${JACK_DEFAULT_SERVER:-}" ]] || {
    echo "with-jack: run this under tests/tools/with_jackd.sh" >&2
    exit 2
  }
  # jack_midiseq owns a MIDI output port (a source nextbeat can listen to);
  # jack_midi_dump owns a MIDI input port (a sink nextbeat can play to). Both
  # come with jackd2, like the server.
  jack_midiseq nextbeat-probe-src 24000 0 60 8000 >/dev/null 2>&1 &
  client_pids+=($!)
  jack_midi_dump nextbeat-probe-sink >/dev/null 2>&1 &
  client_pids+=($!)
  wait_for_port nextbeat-probe-src:out
  wait_for_port nextbeat-probe-sink:input

  run_devices
  expect_line MIDI '^  [^ ].* \(jack\): [0-9]+ inputs?, [0-9]+ outputs?$' \
    "the JACK MIDI API is listed as open"
  expect_line MIDI '^    in +[0-9]+: nextbeat-probe-src:out$' \
    "the JACK MIDI source port is listed as an input"
  expect_line MIDI '^    out +[0-9]+: nextbeat-probe-sink:input$' \
    "the JACK MIDI sink port is listed as an output"
  expect_line Audio '^  [^ ].* \(jack\): [0-9]+ devices?$' \
    "the JACK audio API is listed as open"
  # The dummy backend's defaults (2 capture, 2 playback ports) at the rate
  # with_jackd.sh starts it with.
  expect_line Audio '^    [0-9]+: system  out 2 ch, in 2 ch, 48000 Hz' \
    "the JACK audio device of the dummy server is listed"
  if grep -q 'No MIDI API can be opened' "$work_dir/out"; then
    fail "says no MIDI API can be opened although JACK is running"
  fi
  expect_no_library_noise
else
  # A server name no one uses, and autostart left to nextbeat: it must neither
  # find a server nor start one.
  absent_server="nextbeat-test-absent-$$-${RANDOM}${RANDOM}"
  run_devices env -u JACK_NO_START_SERVER JACK_DEFAULT_SERVER="$absent_server"
  expect_line MIDI "^  [^ ].* \\(jack\\): cannot be opened: JACK server not running" \
    "the JACK MIDI API is reported as unavailable, with the reason"
  expect_line Audio "^  [^ ].* \\(jack\\): cannot be opened: JACK server not running" \
    "the JACK audio API is reported as unavailable, with the reason"
  expect_no_library_noise
  if [[ "$(JACK_NO_START_SERVER=1 jack_wait -c -s "$absent_server" 2>/dev/null)" != "not running" ]]; then
    fail "a JACK server named $absent_server is running: nextbeat devices started one"
  fi
  if [[ -e /dev/snd/seq ]]; then
    echo "This machine has an ALSA sequencer: the 'no MIDI API' message cannot be checked here."
    ((failures == 0)) && exit 77  # CTest: skipped (SKIP_RETURN_CODE)
  elif ! grep -q '^No MIDI API can be opened' "$work_dir/out"; then
    fail "does not say that no MIDI API can be opened"
  elif ! grep -q 'jackd -d dummy' "$work_dir/out"; then
    fail "does not say how to get MIDI ports (start jackd -d dummy, ...)"
  fi
fi

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "PASS ($mode)"
