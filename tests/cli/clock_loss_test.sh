#!/usr/bin/env bash
# The MIDI clock source stops mid-song (clocks, then silence, no stop
# message, as a crashed sequencer): nextbeat plays on at its internal clock
# (beats keep coming over OSC), says so in the log, on /nextbeat/clock and in
# /nextbeat/status, and follows the MIDI clock again when it comes back.
# clock_loss_test.sh NEXTBEAT
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/jack_lib.sh"
start_replies
cat >"$tmp/cfg.toml" <<TOML
[osc]
port = $osc_port
reply_port = $reply_port
[clock]
source = "midi"
[engine]
mode = "accompany"
[midi]
inputs = ["performer"]
output = "listener"
TOML
beats() { grep -c '/nextbeat/beat' "$tmp/replies"; }

start_jackd
start_peer "$tmp/heard"
start_daemon --config "$tmp/cfg.toml"
wait_until 10 'grep -q "MIDI input connected: performer:keys" "$log"' || fail "the performer's port is not followed"
ask_status
[ "$(status_field clock)" = midi ] || fail "status does not say clock midi"
before=$(beats)
echo "clock 6 120" >&7
peer_says done
stopped_at=$(beats)
[ "$stopped_at" -ge $((before + 4)) ] || fail "the MIDI clock did not drive the beat ($before -> $stopped_at)"
wait_until 5 'grep -q "MIDI clock: no clock for" "$log"' || fail "the log does not say the MIDI clock stopped"
wait_until 5 'grep -q "/nextbeat/clock s \"internal\"" "$tmp/replies"' || fail "no /nextbeat/clock internal"
wait_until 6 'test "$(beats)" -ge $((stopped_at + 4))' || fail "the beat stopped with the MIDI clock ($stopped_at -> $(beats))"
ask_status
[ "$(status_field clock)" = internal ] || fail "status does not say clock internal"
[ "$(grep -c "MIDI clock: no clock for" "$log")" = 1 ] || fail "said more than once"

echo "clock 2 120" >&7
peer_says done
wait_until 5 'grep -q "MIDI clock: the clock is back" "$log"' || fail "the MIDI clock is not followed again"
grep -q '/nextbeat/clock s "midi"' "$tmp/replies" || fail "no /nextbeat/clock midi"
stop_daemon
echo "MIDI clock lost mid-song: fell back at beat $stopped_at, $(beats) beats in all, followed again"
