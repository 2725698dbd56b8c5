#!/usr/bin/env bash
# /nextbeat/model loads only default: models and files under [model] dirs,
# and answers the same whether a refused file exists or not (no oracle for
# other users' files). A path with a newline cannot forge a log line.
nextbeat=$1
root=$2
source "$(dirname "$0")/daemon_lib.sh"
start_replies
mkdir -p "$tmp/models" "$tmp/elsewhere"
cp "$root/engine/models/pianoroll.nbm" "$tmp/models/mine.nbm"
cp "$root/engine/models/pianoroll.nbm" "$tmp/elsewhere/other.nbm"

printf '[model]\ndirs = ["%s"]\n[osc]\nport = %d\nreply_port = %d\n' "$tmp/models" $osc_port $reply_port >"$tmp/cfg.toml"
start_daemon --config "$tmp/cfg.toml"
sent=0
send() {  # one request, then its answer (a refusal or the swap) before the next
  /usr/bin/python3 "$(dirname "$0")/osc_bundle.py" $osc_port 1 /nextbeat/model "s:$1" || fail "could not send"
  sent=$((sent + 1))
  for _ in $(seq 100); do
    [ $(($(grep -c "/nextbeat/error" "$tmp/replies") + $(grep -c "model swapped" "$log"))) -ge $sent ] && return 0
    sleep 0.1
  done
  fail "no answer to request $sent ($1)"
}

send "$tmp/elsewhere/other.nbm"          # exists, outside dirs
send "$tmp/elsewhere/missing.nbm"        # does not exist, outside dirs
send "$tmp/models/../elsewhere/other.nbm"  # escapes dirs through ..
send "$(printf '/tmp/x\n[error] forged')"
grep -q "model swapped" "$log" && fail "a model outside [model] dirs was loaded"
[ "$(grep -c "only (now 1)" "$tmp/replies")" -eq 4 ] || fail "expected 4 refusals naming [model] dirs"
# The same answer for the file that exists and the one that does not (paths aside).
a=$(grep "other.nbm:" "$tmp/replies" | head -1 | sed 's/.*other.nbm://')
b=$(grep "missing.nbm:" "$tmp/replies" | head -1 | sed 's/.*missing.nbm://')
[ -n "$a" ] && [ "$a" = "$b" ] || fail "refusals differ for an existing and a missing file: '$a' vs '$b'"
grep -q "^\[error\] forged" "$log" && fail "a newline in an OSC path forged a log line"
grep -q '/tmp/x\\n\[error\] forged' "$log" || fail "the newline is not escaped in the log"
send "$tmp/models/mine.nbm"
for _ in $(seq 50); do grep -q "model swapped" "$log" && break; sleep 0.1; done
grep -q "model swapped to $tmp/models/mine.nbm" "$log" || fail "a model under [model] dirs was not loaded"
stop_daemon
echo "model paths: outside [model] dirs refused alike, inside loaded"
