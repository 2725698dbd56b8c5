#!/usr/bin/env bash
# kill -9 while recording: the take on disk is a valid file (mido and
# nextbeat's own reader read it; every note-on has its note-off), and what
# is lost is at most one flush period. Measured from the outside, over
# RUNS kills at different moments: loss = the kill's time - the file's mtime
# (its last flush). Prints "worst-case loss: N ms"; fails above 2,000 ms.
# record_kill_test.sh NEXTBEAT [SOURCE_DIR]; NEXTBEAT_KILL_RUNS=N for more runs (3)
nextbeat=$1
runs=${NEXTBEAT_KILL_RUNS:-3}  # (the second argument is the source tree, as for the other fault tests)
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/jack_lib.sh"
/usr/bin/python3 -c "import mido" 2>/dev/null || { echo "SKIP: needs python3-mido for /usr/bin/python3"; exit 77; }
takes=$tmp/takes
cat >"$tmp/cfg.toml" <<TOML
[osc]
port = $osc_port
reply_port = $reply_port
[engine]
mode = "accompany"
max_note_beats = 1.0
[midi]
inputs = ["performer"]
output = "listener"
[sampling]
seed = 7
[session]
record = true
record_dir = "$takes"
TOML

start_jackd
start_peer "$tmp/heard"
worst=0
for run in $(seq "$runs"); do
  rm -rf "$takes"
  start_daemon --config "$tmp/cfg.toml"
  wait_until 10 'grep -q "MIDI input connected: performer:keys" "$log"' || fail "the performer's port is not followed"
  echo "play 14 120" >&7
  # Killed at a different point of the flush period each run.
  sleep "$((2 + run)).$(printf %03d $((RANDOM % 1000)))"
  killed_ns=$(date +%s%N)
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  pid=
  take=$(ls "$takes"/take-*.mid)
  flushed_ns=$(stat -c %.9Y "$take" | tr -d .)
  loss_ms=$(((killed_ns - flushed_ns) / 1000000))
  echo "run $run: killed $loss_ms ms after the last flush of $take"
  ((loss_ms > worst)) && worst=$loss_ms
  /usr/bin/python3 "$here_cli/check_take.py" "$take" --performer 2 || fail "run $run: the take after kill -9 (mido)"
  "$nextbeat" generate --prime "$take" --beats 1 --out "$tmp/continued.mid" >"$tmp/generate.log" 2>&1 ||
    fail "run $run: nextbeat cannot read the take after kill -9: $(cat "$tmp/generate.log")"
  peer_says done  # the performer's phrase ends before the next run
done
echo "worst-case loss: $worst ms over $runs kill -9 runs"
((worst <= 2000)) || fail "lost $worst ms of the take, more than the 2 s promised"
echo "PASS"
