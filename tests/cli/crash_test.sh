#!/usr/bin/env bash
# A crash ends the notes it was playing (issue 12, item 6): the engine thread
# overflows its stack (a real SIGSEGV, NEXTBEAT_FAULT_CRASH_ENGINE_MS) while
# nextbeat plays in continue mode; the fatal-signal handler has the output
# thread end every note before the process dies by the signal. Counted from
# the /nextbeat/out/note messages the daemon sent: every note that was
# started has its note-off, and the daemon died by SIGSEGV, not by exit.
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"
command -v oscsend >/dev/null || { echo "SKIP: needs oscsend (liblo-tools)"; exit 77; }
start_replies
export NEXTBEAT_FAULT_CRASH_ENGINE_MS=4000
ulimit -c 0  # no core file from the deliberate crash
start_daemon -o osc.port=$osc_port -o osc.reply_port=$reply_port -o engine.mode=continue
# The performer plays a bar, then pauses: nextbeat continues.
for pitch in 60 64 67 72; do
  oscsend 127.0.0.1 $osc_port /nextbeat/note ii $pitch 90 || fail "oscsend failed"
  sleep 0.25
  oscsend 127.0.0.1 $osc_port /nextbeat/note ii $pitch 0 || fail "oscsend failed"
done
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the fault injection did not crash the daemon within 10 s"
wait "$pid"
status=$?
pid=
[ $status -eq $((128 + 11)) ] || fail "exit status $status, not death by SIGSEGV (139)"
grep -q "nextbeat: fatal signal; ending every note before exiting" "$log" || fail "the handler did not run"
sleep 0.3  # oscdump's last lines
ons=$(grep -c '/nextbeat/out/note iii [0-9]* [1-9][0-9]* ' "$tmp/replies")
[ "$ons" -ge 1 ] || fail "nextbeat played no note before the crash: nothing to check"
# The last message of every (pitch, channel) must be a note-off (velocity 0).
hanging=$(grep '/nextbeat/out/note iii' "$tmp/replies" | awk '{ key = $4 " " $6; last[key] = $5 }
  END { n = 0; for (k in last) if (last[k] != 0) n++; print n }')
[ "$hanging" -eq 0 ] || fail "$hanging notes still sounding when the daemon died"
echo "crash: died by SIGSEGV after $ons note-ons; every note ended by the fatal-signal handler"
