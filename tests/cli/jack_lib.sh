# Sourced after daemon_lib.sh by the fault tests that need a JACK server they
# can kill and start again: a private `jackd -d dummy` of a unique name, a
# performer/recorder peer (jack_peer.py), and an EXIT trap that stops them
# all by PID (nextbeat first, then the peer, then jackd) and reclaims a JACK
# registry slot that a killed jackd leaked (tests/tools/with_jackd.sh says why).
#   start_jackd / kill_jackd      the server, by $jackd_pid
#   start_peer RECORD             jack_peer.py appending what it hears to RECORD; fd 7 is its stdin
#   peer_says WORD                waits (30 s) for the peer's WORD, one more time than before
#   status_field NAME             the value of NAME in the last /nextbeat/status reply
#   ask_status                    sends /nextbeat/status and waits for a new reply
for tool in jackd jack_wait oscsend oscdump; do
  command -v $tool >/dev/null || { echo "SKIP: needs $tool (scripts/setup.sh installs it)"; exit 77; }
done
/usr/bin/python3 -c "import rtmidi" 2>/dev/null || { echo "SKIP: needs python3-rtmidi for /usr/bin/python3"; exit 77; }
[[ -d /dev/shm && -w /dev/shm ]] || { echo "SKIP: jackd needs a writable /dev/shm"; exit 77; }

jack_server="nextbeat-fault-$$-${RANDOM}${RANDOM}"
export JACK_DEFAULT_SERVER=$jack_server JACK_NO_START_SERVER=1
jackd_pid=
peer_pid=
declare -A peer_words=()
here_cli=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

start_jackd() {
  jackd --no-realtime -n "$jack_server" -d dummy -r 48000 -p 256 >>"$tmp/jackd.log" 2>&1 &
  jackd_pid=$!
  local deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    kill -0 "$jackd_pid" 2>/dev/null || fail "jackd exited: $(tail -5 "$tmp/jackd.log")"
    jack_wait -w -s "$jack_server" -t 1 >/dev/null 2>&1 && return 0
  done
  fail "jackd $jack_server not up after 15 s"
}
kill_jackd() {  # kill_jackd SIGNAL
  kill -"$1" "$jackd_pid" 2>/dev/null
  for _ in $(seq 300); do kill -0 "$jackd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$jackd_pid" 2>/dev/null
  wait "$jackd_pid" 2>/dev/null
  jackd_pid=
}
start_peer() {
  rm -f "$tmp/peer.in"
  mkfifo "$tmp/peer.in"
  /usr/bin/python3 "$here_cli/jack_peer.py" "$1" <"$tmp/peer.in" >"$tmp/peer.out" 2>&1 &
  peer_pid=$!
  exec 7>"$tmp/peer.in"
  peer_words=()
  peer_says ready
}
peer_says() {
  local want=$((${peer_words[$1]:-0} + 1))
  for _ in $(seq 300); do
    if [ "$(grep -c "^$1\$" "$tmp/peer.out")" -ge $want ]; then peer_words[$1]=$want; return 0; fi
    kill -0 "$peer_pid" 2>/dev/null || fail "jack_peer.py exited: $(cat "$tmp/peer.out")"
    sleep 0.1
  done
  fail "jack_peer.py never said '$1': $(cat "$tmp/peer.out")"
}
kill_peer() {
  exec 7>&-
  [ -n "$peer_pid" ] && { kill -9 "$peer_pid" 2>/dev/null; wait "$peer_pid" 2>/dev/null; }
  peer_pid=
  peer_words=()
}
# Polls CONDITION (shell code, evaluated afresh each time: quote it in single
# quotes) every 0.1 s for SECONDS; 1 if it never held.
wait_until() {  # wait_until SECONDS 'CONDITION'
  for _ in $(seq $(($1 * 10))); do eval "$2" && return 0; sleep 0.1; done
  return 1
}

jack_cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  pid=
  kill_peer
  [ -n "$jackd_pid" ] && kill_jackd TERM
  if grep -aqF "jack-$(id -u):${jack_server}:" /dev/shm/jack-shm-registry 2>/dev/null; then
    # A killed jackd leaves its registry entry; one of the same name frees it.
    jackd --no-realtime -n "$jack_server" -d dummy -r 48000 -p 256 >>"$tmp/jackd.log" 2>&1 &
    jackd_pid=$!
    for _ in $(seq 10); do jack_wait -w -s "$jack_server" -t 1 >/dev/null 2>&1 && break; done
    kill_jackd TERM
  fi
  rm -f /dev/shm/jack_"${jack_server}"_* /dev/shm/jack_sem.*_"${jack_server}"_*
  cleanup
}
trap jack_cleanup EXIT
