#!/usr/bin/env bash
# `nextbeat run` as systemd runs it: starts on the defaults, says what it can
# and cannot do, keeps running across a SIGHUP with a bad new config (keeping
# the old one), reloads a good one, and stops cleanly on SIGTERM and SIGINT.
set -uo pipefail
nextbeat=$1
fail() { echo "FAIL: $*" >&2; [ -f "${log:-}" ] && cat "$log" >&2; exit 1; }
tmp=$(mktemp -d)
log=$tmp/log
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
# No JACK server for this test: the daemon must say so and keep going.
export JACK_DEFAULT_SERVER=nextbeat-test-no-such-server-$$

wait_for() {  # wait_for PATTERN: until the log has it (10 s at most)
  for _ in $(seq 100); do grep -q -- "$1" "$log" && return 0; sleep 0.1; done
  fail "log never showed '$1'"
}
stops_on() {  # stops_on SIGNAL: the process exits 0 after SIGNAL
  kill -"$1" "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "still running 10 s after SIG$1"
  wait "$pid"
  local status=$?
  pid=
  [ $status -eq 0 ] || fail "exited $status after SIG$1"
}

# A port of its own, so that tests running side by side do not collide.
osc_port=$(/usr/bin/python3 "$(dirname "$0")/../tools/free_udp_port.py") || fail "no free UDP port"
printf '[sampling]\ntemperature = 0.9\n[osc]\nport = %d\nreply_port = %d\n' $osc_port $((osc_port + 1)) >"$tmp/cfg.toml"
"$nextbeat" run --config "$tmp/cfg.toml" >"$log" 2>&1 &
pid=$!
wait_for "ready"
grep -q "BLAS: " "$log" || fail "no BLAS report"
if [ -e /dev/snd/seq ]; then
  grep -q "MIDI in" "$log" || fail "no word about MIDI input"  # a sequencer here: MIDI opens
else
  grep -q "no MIDI API" "$log" || fail "no word about missing MIDI"
  grep -q "running without MIDI input" "$log" || fail "does not say it goes on without MIDI"
fi
grep -q "OSC in on 127.0.0.1:$osc_port" "$log" || fail "does not say where OSC comes in"
grep -q "model default:events" "$log" || fail "does not name the model"

printf '[sampling]\ntemperature = -3\n[osc]\nport = %d\n' $osc_port >"$tmp/cfg.toml"
kill -HUP "$pid"
wait_for "keeping the previous one"
grep -q "cfg.toml:2:15: sampling.temperature: expected a number" "$log" || fail "reload error lacks file:line:col"
kill -0 "$pid" || fail "died on a bad reload"

printf '[sampling]\ntemperature = 0.7\n[osc]\nport = %d\n' $osc_port >"$tmp/cfg.toml"
kill -HUP "$pid"
wait_for "config reloaded from"
stops_on TERM
grep -q "SIGTERM: stopping" "$log" || fail "no stop message"

# SIGINT, on the built-in defaults (OSC moved off 9000 with -o).
"$nextbeat" run -o osc.port=$((osc_port + 2)) >"$log" 2>&1 &
pid=$!
wait_for "ready"
grep -q "the built-in default config" "$log" || fail "does not say it runs on the defaults"
stops_on INT

# A bad config at start: exit 1 with the error, no daemon.
printf '[engine]\nmode = "jam"\n' >"$tmp/bad.toml"
"$nextbeat" run --config "$tmp/bad.toml" >"$log" 2>&1 && fail "started with a bad config"
grep -q "bad.toml:2:8: engine.mode" "$log" || fail "start error lacks file:line:col"
echo "run: ok"
