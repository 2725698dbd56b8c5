#!/usr/bin/env bash
# /nextbeat/model loads only default: models and files under [model] dirs,
# and answers the same whether a refused file exists or not (no oracle for
# other users' files). A path with a newline cannot forge a log line.
set -uo pipefail
nextbeat=$1
root=$2
fail() { echo "FAIL: $*" >&2; cat "$tmp/replies" "$log" >&2; exit 1; }
tmp=$(mktemp -d)
log=$tmp/log
pid=
dump=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "$dump" ] && kill "$dump" 2>/dev/null; rm -rf "$tmp"' EXIT
export JACK_DEFAULT_SERVER=nextbeat-test-no-such-server-$$
command -v oscdump >/dev/null || { echo "SKIP: needs oscdump (liblo-tools)"; exit 77; }
mkdir -p "$tmp/models" "$tmp/elsewhere"
cp "$root/engine/models/pianoroll.nbm" "$tmp/models/mine.nbm"
cp "$root/engine/models/pianoroll.nbm" "$tmp/elsewhere/other.nbm"

osc_port=$((20000 + RANDOM % 20000))
reply_port=$((osc_port + 1))
oscdump -L "$reply_port" >"$tmp/replies" 2>&1 &
dump=$!
printf '[model]\ndirs = ["%s"]\n[osc]\nport = %d\nreply_port = %d\n' "$tmp/models" $osc_port $reply_port >"$tmp/cfg.toml"
"$nextbeat" run --config "$tmp/cfg.toml" >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "\] ready$" "$log" && break; sleep 0.1; done
grep -q "\] ready$" "$log" || fail "not ready"
send() { /usr/bin/python3 "$(dirname "$0")/osc_bundle.py" $osc_port 1 /nextbeat/model "s:$1"; sleep 0.7; }

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
kill -TERM "$pid"; wait "$pid"; pid=
echo "model paths: outside [model] dirs refused alike, inside loaded"
