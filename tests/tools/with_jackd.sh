#!/usr/bin/env bash
# with_jackd.sh CMD [ARGS...]
#
# Runs CMD against a private JACK server with the dummy backend (no sound card
# needed) and exits with CMD's status. The server gets a name unique to this
# invocation, so parallel ctest runs never share or collide with one another or
# with a user's own server; CMD finds it through JACK_DEFAULT_SERVER. The server
# is stopped when this script exits, however it exits.
#
# Environment for CMD:
#   JACK_DEFAULT_SERVER  the private server's name
#   JACK_NO_START_SERVER 1, so that no client autostarts some other server
#
# Needs jackd (Debian: jackd2) and jack_wait, and a writable /dev/shm: jackd2
# keeps its shared memory registry, semaphores and sockets there. Running as
# root (as in a container) is fine; --no-realtime avoids needing RT rights.
#
# CMD should stop its own JACK clients cleanly (SIGINT for the jackd2 example
# clients) before it exits. jackd 1.9.21 handles a client that died without
# closing badly: it spends ~1 s per timeout removing it (several seconds in
# all), and sometimes dies of SIGPIPE. A jackd that dies uncleanly leaves its
# entry in /dev/shm/jack-shm-registry, which has only 8 server slots and frees
# a dead entry only for a server of the same name; with unique names, every
# such leak would be permanent, and after 8 no jackd could start on the machine
# ("Too many servers already active"). stop_server therefore waits generously
# and reclaims a leaked entry.
# shellcheck disable=SC2317  # the stop functions run from the EXIT trap
set -euo pipefail

readonly kStartTimeoutS=10
readonly kStopTimeoutS=30

die() {
  echo "with_jackd.sh: $*" >&2
  exit 1
}

[[ $# -ge 1 ]] || die "usage: with_jackd.sh CMD [ARGS...]"
command -v jackd >/dev/null || die "jackd not found (install the jackd2 package)"
command -v jack_wait >/dev/null || die "jack_wait not found (install the jackd2 package)"
[[ -d /dev/shm && -w /dev/shm ]] ||
  die "/dev/shm is missing or not writable; jackd needs it for shared memory and sockets"

server_name="nextbeat-test-$$-${RANDOM}${RANDOM}"
log_file="$(mktemp "${TMPDIR:-/tmp}/with_jackd.XXXXXX.log")"
jackd_pid=""

export JACK_DEFAULT_SERVER="$server_name"
export JACK_NO_START_SERVER=1

start_jackd() {
  jackd --no-realtime -n "$server_name" -d dummy -r 48000 -p 256 >"$log_file" 2>&1 &
  jackd_pid=$!
}

# Waits until the server answers; returns 1 if jackd exited or the time ran out.
# jack_wait -w prints libjack's "Cannot connect to server socket" while it
# polls; only the outcome matters. Its -t counts whole seconds, so it is asked
# one second at a time, which also notices a jackd that died at once.
wait_for_jackd() {
  local deadline=$((SECONDS + kStartTimeoutS))
  while ((SECONDS < deadline)); do
    kill -0 "$jackd_pid" 2>/dev/null || return 1
    jack_wait -w -s "$server_name" -t 1 >/dev/null 2>&1 && return 0
  done
  return 1
}

stop_jackd() {
  [[ -n "$jackd_pid" ]] || return 0
  kill -TERM "$jackd_pid" 2>/dev/null || true
  local deadline=$((SECONDS + kStopTimeoutS))
  while kill -0 "$jackd_pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.1
  done
  kill -KILL "$jackd_pid" 2>/dev/null || true
  wait "$jackd_pid" 2>/dev/null || true
  jackd_pid=""
}

registry_lists_server() {
  grep -aqF "jack-$(id -u):${server_name}:" /dev/shm/jack-shm-registry 2>/dev/null
}

on_exit() {
  local status=$?
  trap - EXIT INT TERM
  stop_jackd
  if registry_lists_server; then
    # jackd frees a dead entry when a server of the same name registers.
    echo "with_jackd.sh: jackd did not exit cleanly; reclaiming its JACK registry slot" >&2
    start_jackd
    wait_for_jackd || true
    stop_jackd
    if registry_lists_server; then
      echo "with_jackd.sh: could not reclaim the registry slot of '$server_name'" >&2
    fi
  fi
  # Whatever a dead server or dead clients left behind; the name is ours alone.
  rm -f /dev/shm/jack_"${server_name}"_* /dev/shm/jack_sem.*_"${server_name}"_*
  rm -f "$log_file"
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_jackd
if ! wait_for_jackd; then
  cat "$log_file" >&2
  if grep -q "Too many servers already active" "$log_file"; then
    echo "with_jackd.sh: the JACK registry's 8 server slots are taken by stale servers;" \
      "with no jackd running, remove /dev/shm/jack-shm-registry" >&2
  fi
  if kill -0 "$jackd_pid" 2>/dev/null; then
    die "JACK server '$server_name' was not up after ${kStartTimeoutS} s; jackd's output is above"
  fi
  jackd_pid=""
  die "jackd exited during start-up (server '$server_name'); its output is above"
fi

# Not exec: the EXIT trap must still stop the server after CMD.
set +e
"$@"
status=$?
set -e
exit "$status"
