#!/usr/bin/env bash
# A flood of /nextbeat/model requests (one bundle of 100) costs one or two
# model loads, not a hundred: the latest waiting request wins, one sent while
# a model loads is refused with /nextbeat/error, memory stays flat, and
# SIGTERM still stops the daemon at once.
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"
start_replies
start_daemon -o osc.port=$osc_port -o osc.reply_port=$reply_port
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
before=$(rss)

/usr/bin/python3 "$(dirname "$0")/osc_bundle.py" $osc_port 100 /nextbeat/model s:default:events
for _ in $(seq 100); do grep -q "model swapped" "$log" && break; sleep 0.1; done
# Then bundles 10 ms apart, for longer than a load takes: some come while a
# model loads. The last one names the pianoroll model.
BUNDLES=20 EVERY_MS=10 /usr/bin/python3 "$(dirname "$0")/osc_bundle.py" $osc_port 20 /nextbeat/model s:default:events
/usr/bin/python3 "$(dirname "$0")/osc_bundle.py" $osc_port 100 /nextbeat/model s:default:pianoroll
for _ in $(seq 100); do grep -q "model swapped to default:pianoroll" "$log" && break; sleep 0.1; done
# If the last bundle came while a model loaded, it was refused: ask once more.
if ! tail -1 <(grep "model swapped" "$log") | grep -q pianoroll; then
  /usr/bin/python3 "$(dirname "$0")/osc_bundle.py" $osc_port 1 /nextbeat/model s:default:pianoroll
  sleep 2
fi
swaps=$(grep -c "model swapped" "$log")
[ "$swaps" -le 12 ] || fail "$swaps model loads for 2,100 requests"
tail -1 <(grep "model swapped" "$log") | grep -q "default:pianoroll" || fail "the latest request did not win"
refused=$(grep -c "a model is loading" "$tmp/replies")
[ "$refused" -ge 1 ] || fail "no /nextbeat/error for a request sent while a model loaded"
after=$(rss)
[ $((after - before)) -lt 150000 ] || fail "resident memory grew from ${before} kB to ${after} kB"
start=$(date +%s%N)
stop_daemon
took_ms=$((($(date +%s%N) - start) / 1000000))
[ $took_ms -lt 3000 ] || fail "SIGTERM took $took_ms ms"
echo "model flood: $swaps loads for 2,100 requests, $refused refused while loading, RSS ${before} -> ${after} kB, SIGTERM in $took_ms ms"
