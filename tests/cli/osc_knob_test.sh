#!/usr/bin/env bash
# A knob turned over OSC while nextbeat plays changes what it plays from the
# next beat, not only the echo: the daemon accompanies a performer sent over
# OSC, and density and velocity_scale move between phases (osc_knob.py counts
# the notes nextbeat sends back). Density goes 2, 0, 2: silence in the middle
# phase and notes again after it. The performer is at whatever phase of
# nextbeat's internal beat the test starts on, where the accompaniment's own
# rate varies from 0.3 to 2.6 notes a beat between runs, so proportions are
# left to the engine's own test of the same, beat by beat and over MIDI CC
# too, with fixed seeds (tests/engine/ControlResponseTest.cpp).
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"
bpm=150
printf '[engine]\nmode = "accompany"\n[clock]\ntempo_bpm = %d\n[sampling]\nseed = 3\ndensity = 2.0\n[osc]\nport = %d\nreply_port = %d\n' \
  $bpm $osc_port $reply_port >"$tmp/cfg.toml"
start_daemon --config "$tmp/cfg.toml"
knob() { /usr/bin/python3 "$(dirname "$0")/osc_knob.py" $osc_port $reply_port $bpm 16 "$@" >"$tmp/knob" || fail "osc_knob.py"; cat "$tmp/knob"; }
field() { awk -v v="$1" -v f="$2" '$1 == v { print $f }' "$tmp/knob"; }

knob density 2 0 2
first=$(field 2 2 | head -1) none=$(field 0 2) again=$(field 2 2 | tail -1)
awk -v a="$first" 'BEGIN { exit !(a >= 0.25) }' || fail "density 2: $first notes per beat, expected at least 0.25"
awk -v a="$none" 'BEGIN { exit !(a == 0) }' || fail "density 0 played $none notes per beat"
awk -v a="$again" 'BEGIN { exit !(a >= 0.25) }' || fail "density 2 again: $again notes per beat, expected at least 0.25"

knob velocity_scale 1 0.5
loud=$(field 1 3) soft=$(field 0.5 3)
awk -v a="$loud" -v b="$soft" 'BEGIN { exit !(a > 0 && b > 0.4 * a && b < 0.6 * a) }' ||
  fail "velocity_scale 0.5: mean velocity $soft against $loud"
stop_daemon
echo "knobs over OSC: density $first / $none / $again notes per beat at 2 / 0 / 2, velocity $loud -> $soft at 0.5"
