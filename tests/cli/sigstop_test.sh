#!/usr/bin/env bash
# SIGSTOP for 5 s, then SIGCONT, while nextbeat plays (accompany mode, OSC
# only): no burst of the notes that were due while it was stopped (they are
# skipped and counted in status "stale", not played late), and the clock
# resumes (beats and notes go on within the next 4 s).
# sigstop_test.sh NEXTBEAT
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"
command -v oscsend >/dev/null || { echo "SKIP: needs oscsend (liblo-tools)"; exit 77; }
start_daemon -o osc.port=$osc_port -o osc.reply_port=$reply_port -o engine.mode=accompany \
  -o clock.tempo_bpm=240 -o sampling.density=4 -o sampling.seed=3
figures=$(/usr/bin/python3 "$(dirname "$0")/stall_probe.py" "$pid" $osc_port $reply_port 5) || fail "stall_probe.py failed"
echo "$figures"
field() { sed -E "s/.*$1=([0-9]+).*/\1/" <<<"$figures"; }
[ "$(field beats_after)" -ge 8 ] || fail "the clock did not resume: $figures"
[ "$(field notes_after)" -ge 4 ] || fail "no notes after SIGCONT: $figures"
# A burst: more note-ons in the 100 ms after SIGCONT than ever in 100 ms of normal play.
[ "$(field after_cont_100ms)" -le "$(field before_max_100ms)" ] || fail "a burst of stale notes after SIGCONT: $figures"
# The skipped ones are counted.
start_replies
oscsend 127.0.0.1 $osc_port /nextbeat/status
for _ in $(seq 100); do grep -q "/nextbeat/status" "$tmp/replies" && break; sleep 0.1; done
stale=$(grep "/nextbeat/status" "$tmp/replies" | tail -1 | sed -E 's/.*"stale" ([0-9]+).*/\1/')
[ -n "$stale" ] && [ "$stale" -ge 1 ] || fail "status does not count the stale events skipped: $stale"
stop_daemon
echo "SIGSTOP 5 s: $figures; $stale stale events skipped"
