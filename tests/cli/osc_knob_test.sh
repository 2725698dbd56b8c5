#!/usr/bin/env bash
# A knob turned over OSC while nextbeat plays changes what it plays from the
# next beat, not only the echo: the daemon accompanies a performer sent over
# OSC, and density and velocity_scale move between phases (osc_knob.py counts
# the notes nextbeat sends back). The engine's own test of the same, beat by
# beat and over MIDI CC too, is in tests/engine/ControlResponseTest.cpp.
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"
bpm=150
printf '[engine]\nmode = "accompany"\n[clock]\ntempo_bpm = %d\n[sampling]\nseed = 3\n[osc]\nport = %d\nreply_port = %d\n' \
  $bpm $osc_port $reply_port >"$tmp/cfg.toml"
start_daemon --config "$tmp/cfg.toml"
knob() { /usr/bin/python3 "$(dirname "$0")/osc_knob.py" $osc_port $reply_port $bpm 12 "$@" >"$tmp/knob" || fail "osc_knob.py"; cat "$tmp/knob"; }
field() { awk -v v="$1" -v f="$2" '$1 == v { print $f }' "$tmp/knob"; }

knob density 1 0.25 2
one=$(field 1 2) quarter=$(field 0.25 2) twice=$(field 2 2)
awk -v a="$one" 'BEGIN { exit !(a >= 1) }' || fail "density 1: $one notes per beat, expected at least 1"
awk -v a="$one" -v b="$quarter" 'BEGIN { exit !(b < 0.5 * a) }' || fail "density 0.25 played $quarter notes per beat against $one"
awk -v a="$one" -v b="$twice" 'BEGIN { exit !(b > 1.4 * a) }' || fail "density 2 played $twice notes per beat against $one"

knob velocity_scale 1 0.5
loud=$(field 1 3) soft=$(field 0.5 3)
awk -v a="$loud" -v b="$soft" 'BEGIN { exit !(b > 0.4 * a && b < 0.6 * a) }' ||
  fail "velocity_scale 0.5: mean velocity $soft against $loud"
stop_daemon
echo "knobs over OSC: density $quarter / $one / $twice notes per beat at 0.25 / 1 / 2, velocity $loud -> $soft at 0.5"
