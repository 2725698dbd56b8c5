# Shared by the tests that run `nextbeat run` against OSC peers (sourced):
# a scratch directory, the daemon's log, cleanup of every process started,
# no JACK server (the daemon runs on OSC alone), ports of the test's own.
#   $tmp, $log          scratch directory (removed at exit) and the daemon's log
#   $osc_port, $reply_port
#   fail MESSAGE        prints MESSAGE, the replies and the log's end; exit 1
#   start_replies       oscdump on $reply_port into $tmp/replies (skips without liblo-tools)
#   expect_reply REGEX  waits up to 10 s for a reply line matching REGEX, else fails
#   ask_status          sends /nextbeat/status and waits for the reply (10 s)
#   status_field NAME   NAME's value in the latest /nextbeat/status reply
#   start_daemon ARG... nextbeat run ARG... in the background; waits for "ready"
#   stop_daemon         SIGTERM; fails unless it exits 0
#   background CMD...   runs CMD in the background, killed at exit
set -uo pipefail
tmp=$(mktemp -d)
log=$tmp/log
: >"$log"
pid=
helpers=()
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  for h in "${helpers[@]}"; do kill "$h" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
export JACK_DEFAULT_SERVER=nextbeat-test-no-such-server-$$
# Two adjacent free UDP ports picked by the kernel: random picks collided under ctest -j.
osc_port=$(/usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/../tools/free_udp_port.py") || { echo "FAIL: no free UDP port"; exit 1; }
reply_port=$((osc_port + 1))

fail() {
  echo "FAIL: $*" >&2
  [ -f "$tmp/replies" ] && tail -20 "$tmp/replies" >&2
  tail -30 "$log" >&2
  exit 1
}
background() {
  "$@" &
  helpers+=($!)
}
start_replies() {
  command -v oscdump >/dev/null || { echo "SKIP: needs oscdump (liblo-tools; scripts/setup.sh installs it)"; exit 77; }
  oscdump -L "$reply_port" >"$tmp/replies" 2>&1 &
  helpers+=($!)
}
expect_reply() {
  for _ in $(seq 100); do grep -q -- "$1" "$tmp/replies" && return 0; sleep 0.1; done
  fail "no reply matching '$1'"
}
ask_status() {
  local before
  before=$(grep -c '/nextbeat/status' "$tmp/replies")
  oscsend 127.0.0.1 "$osc_port" /nextbeat/status
  for _ in $(seq 100); do
    [ "$(grep -c '/nextbeat/status' "$tmp/replies")" -gt "$before" ] && return 0
    sleep 0.1
  done
  fail "no /nextbeat/status reply in 10 s"
}
status_field() {
  grep '/nextbeat/status' "$tmp/replies" | tail -1 | grep -oE "\"$1\" (\"[^\"]*\"|[-0-9.e+]+)" | cut -d' ' -f2 | tr -d '"'
}
start_daemon() {
  "$nextbeat" run "$@" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do grep -q "\] ready$" "$log" && return 0; sleep 0.1; done
  fail "not ready after 15 s"
}
stop_daemon() {
  kill -TERM "$pid"
  wait "$pid"
  local status=$?
  pid=
  [ $status -eq 0 ] || fail "exit $status after SIGTERM"
}
