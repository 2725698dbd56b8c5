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
  -o clock.tempo_bpm=240 -o sampling.seed=3 -o engine.latency_budget_ms=100
# Stopped 50 ms before a beat for 5.1 s (20.4 beats): SIGCONT comes 50 ms
# after a beat and the next is 200 ms away, so nothing is due in the 100 ms
# after SIGCONT but what the stop left behind.
figures=$(/usr/bin/python3 "$(dirname "$0")/stall_probe.py" "$pid" $osc_port $reply_port 5.1) || fail "stall_probe.py failed"
echo "$figures"
field() { sed -E "s/.*$1=([0-9]+).*/\1/" <<<"$figures"; }
[ "$(field beats_after)" -ge 8 ] || fail "the clock did not resume: $figures"
[ "$(field notes_after)" -ge 4 ] || fail "no notes after SIGCONT: $figures"
# No burst: the notes that fell due while it was stopped do not come out at SIGCONT.
[ "$(field after_cont_100ms)" -eq 0 ] || fail "a burst of stale notes after SIGCONT: $figures"
# The skipped ones are counted.
start_replies
for _ in $(seq 20); do  # until oscdump listens and the reply is in
  oscsend 127.0.0.1 $osc_port /nextbeat/status
  sleep 0.5
  grep -q "/nextbeat/status" "$tmp/replies" && break
done
stale=$(grep "/nextbeat/status" "$tmp/replies" | tail -1 | sed -E 's/.*"stale" ([0-9]+).*/\1/')
[ -n "$stale" ] && [ "$stale" -ge 1 ] || fail "status does not count the stale events skipped: $stale"
stop_daemon
echo "SIGSTOP 5 s: $figures; $stale stale events skipped"
