#!/usr/bin/env bash
# A flood does not starve the beat: 10,000 OSC messages a second for 6 s
# (note-ons and -offs, a model step each, controls, unknown addresses) around
# a performer's quarter notes,
# in accompany mode. Every beat is predicted in time (0 deadline misses), and
# the daemon stays responsive to /nextbeat/status.
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"
command -v oscsend >/dev/null || { echo "SKIP: needs oscsend (liblo-tools)"; exit 77; }
start_replies
start_daemon -o osc.port=$osc_port -o osc.reply_port=$reply_port -o engine.mode=accompany -o engine.latency_budget_ms=5

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
stop_daemon
echo "osc flood: $sent messages in 6 s; $beats beats, $misses misses, $notes_in performer notes heard; shed $(field shed); $errors error replies"
