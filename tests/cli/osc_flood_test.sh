#!/usr/bin/env bash
# A flood does not starve the beat: 10,000 OSC messages a second for 6 s
# (note-ons and -offs, a model step each, controls, unknown addresses) around
# a performer's quarter notes,
# in accompany mode. Every beat is predicted in time (0 deadline misses), and
# the daemon stays responsive to /nextbeat/status.
set -uo pipefail
nextbeat=$1
fail() { echo "FAIL: $*" >&2; cat "$tmp/replies" >&2; tail -20 "$log" >&2; exit 1; }
tmp=$(mktemp -d)
log=$tmp/log
pid=
dump=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "$dump" ] && kill "$dump" 2>/dev/null; rm -rf "$tmp"' EXIT
export JACK_DEFAULT_SERVER=nextbeat-test-no-such-server-$$
command -v oscdump >/dev/null && command -v oscsend >/dev/null || { echo "SKIP: needs liblo-tools"; exit 77; }

osc_port=$((20000 + RANDOM % 20000))
reply_port=$((osc_port + 1))
oscdump -L "$reply_port" >"$tmp/replies" 2>&1 &
dump=$!
"$nextbeat" run -o osc.port=$osc_port -o osc.reply_port=$reply_port -o engine.mode=accompany \
  -o engine.latency_budget_ms=5 >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "\] ready$" "$log" && break; sleep 0.1; done
grep -q "\] ready$" "$log" || fail "not ready"

sent=$(/usr/bin/python3 "$(dirname "$0")/osc_flood.py" $osc_port 6 10000)
sleep 1
oscsend 127.0.0.1 $osc_port /nextbeat/status || fail "oscsend failed"
for _ in $(seq 50); do grep -q "/nextbeat/status" "$tmp/replies" && break; sleep 0.1; done
status=$(grep "/nextbeat/status" "$tmp/replies" | tail -1)
[ -n "$status" ] || fail "no /nextbeat/status reply after the flood"
field() { sed -E "s/.*\"$1\" ([0-9.e+-]+).*/\1/" <<<"$status"; }
misses=$(field misses)
beats=$(field beats)
notes_in=$(field notes_in)
[ "$beats" -ge 10 ] || fail "only $beats beats in 7 s at 120 bpm"
[ "$misses" -eq 0 ] || fail "$misses deadline misses under the flood"
[ "$notes_in" -ge 8 ] || fail "only $notes_in of the performer's notes were heard"
# Refusals are answered at 20 a second at most (the flood has ~2,500 bad messages a second).
errors=$(grep -c "/nextbeat/error" "$tmp/replies")
[ "$errors" -le 200 ] || fail "$errors /nextbeat/error replies in 7 s (the limit is 20 a second)"
kill -TERM "$pid"; wait "$pid"; pid=
echo "osc flood: $sent messages in 6 s; $beats beats, $misses misses, $notes_in performer notes heard; shed $(field shed); $errors error replies"
