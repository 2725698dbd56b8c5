#!/usr/bin/env bash
# [clock] source = "link" against a second Link peer (link_peer.cpp), in a
# private network namespace that has loopback alone: Link's discovery
# multicasts on every interface, and a test must not join a real network's
# sessions. Checks: (a) joining does not change the session's tempo; (b)
# nextbeat follows the peer's tempo change within a beat; (c) nextbeat's
# beats (/nextbeat/beat, timestamped by the peer on Link's clock as they
# arrive) land on the session's grid, bars included: prints the phase error
# in ms; (d) a tempo set over OSC to nextbeat reaches the peer.
# link_test.sh NEXTBEAT LINK_PEER
nextbeat=$1
peer=$2
if [ "${NEXTBEAT_LINK_NETNS:-}" != 1 ]; then
  command -v unshare >/dev/null && command -v ip >/dev/null ||
    { echo "SKIP: needs unshare (util-linux) and ip (iproute2) for a private network namespace"; exit 77; }
  # A user namespace too when not root (unprivileged user namespaces); as root -n alone.
  if [ "$(id -u)" = 0 ]; then ns=(unshare -n); else ns=(unshare -rn); fi
  "${ns[@]}" true 2>/dev/null ||
    { echo "SKIP: cannot make a private network namespace (${ns[*]}: not permitted here)"; exit 77; }
  NEXTBEAT_LINK_NETNS=1 exec "${ns[@]}" bash "$0" "$@"
fi
# In the namespace: loopback up, multicast routed to it, and nothing else.
ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo ||
  { echo "SKIP: cannot set up loopback multicast in the namespace"; exit 77; }
[ "$(ip -o link show | wc -l)" = 1 ] || { echo "FAIL: the namespace has more than loopback"; exit 1; }

source "$(dirname "$0")/daemon_lib.sh"
command -v oscsend >/dev/null || { echo "SKIP: needs oscsend (liblo-tools; scripts/setup.sh installs it)"; exit 77; }
mkfifo "$tmp/peer_in"
exec 8<>"$tmp/peer_in"
# The peer's session is older than nextbeat's by more than Link's 0.5 s: it is the one joined.
# (Not through `background`: a command put in the background inside a
# function gets /dev/null for stdin, and the peer would read EOF and quit.)
"$peer" "$reply_port" 90 4 <&8 >"$tmp/replies" &
helpers+=($!)
sleep 1.5
grep -q '^tempo 90.000' "$tmp/replies" || fail "the peer did not start"
cat >"$tmp/cfg.toml" <<TOML
[osc]
port = $osc_port
reply_port = $reply_port
[clock]
source = "link"
tempo_bpm = 140.0
beats_per_bar = 4
[engine]
mode = "accompany"
TOML
start_daemon --config "$tmp/cfg.toml" ${NEXTBEAT_LINK_TEST_ARGS:-}
grep -q "Ableton Link: joined" "$log" || fail "the log does not say Link was joined"
wait_peer() { for _ in $(seq 100); do grep -q "$1" "$tmp/replies" && return 0; sleep 0.1; done; fail "the peer never saw: $1"; }
wait_peer '^peers 1'
wait_until() { for _ in $(seq $(($1 * 10))); do eval "$2" && return 0; sleep 0.1; done; return 1; }
beats() { grep -c '^beat ' "$tmp/replies"; }
wait_until 10 '[ "$(beats)" -ge 10 ]' || fail "no beats from nextbeat ($(beats))"

# (a) Joining proposed nothing: the session is at 90 still, and was never at 140.
grep '^tempo ' "$tmp/replies" | grep -v '^tempo 90.000' && fail "joining changed the session's tempo"
wait_until 5 'grep -q "Ableton Link: 1 other peer in the session" "$log"' || fail "the log does not count the peer"

# On the grid: within 5 ms (what the output thread's wake-up jitter allows on
# a loaded 2-core machine; measured errors are printed at the end).
tol_ms=5
# (c) The beats on the grid before the change: the first 2 after joining are
# left out (rolled out before nextbeat saw the session).
phase() { awk -v from="$1" -v to="$2" 'function near(x) { return x >= 0 ? int(x + 0.5) : -int(-x + 0.5) }
  $1 == "beat" && $3 >= from && $3 < to {
  n++; e = $5 < 0 ? -$5 : $5; if (e > max) max = e; sum += e
  if (($2 % 4 + 4) % 4 != (near($4) % 4 + 4) % 4) bar++ }
  END { printf "%d %.3f %.3f %d\n", n, max, n ? sum / n : 0, bar }' "$tmp/replies"; }
first=$(grep '^beat ' "$tmp/replies" | sed -n 3p | cut -d' ' -f3)
read -r n90 max90 mean90 bar90 <<<"$(phase "$first" 9e18)"
[ "$n90" -ge 6 ] || fail "too few beats to measure ($n90)"
[ "$bar90" = 0 ] || fail "$bar90 of nextbeat's beats are not on the session's bar phase (quantum 4)"
awk -v m="$max90" -v t="$tol_ms" 'BEGIN { exit !(m < t) }' || fail "phase error at 90 bpm up to $max90 ms (over $tol_ms ms)"

# (b) The peer changes the tempo; nextbeat's beats are on the new grid from
# the first one a beat (462 ms at 130 bpm) after the change at most, plus
# the engine's poll period (5 ms) and latency budget (5 ms): a beat rolled
# out before the engine saw the change is off.
echo "tempo 130" >&8
wait_peer '^set 130'
changed=$(grep '^set 130' "$tmp/replies" | cut -d' ' -f3)
before=$(beats)
wait_until 10 '[ "$(beats)" -ge $((before + 10)) ]' || fail "the beats stopped after the tempo change"
# The first beat from which every beat is on the new grid.
on_grid_from=$(awk -v c="$changed" -v t="$tol_ms" '$1 == "beat" && $3 > c { if ($5 > t || $5 < -t) last = ""; else if (last == "") last = $3 }
  END { print last }' "$tmp/replies")
[ -n "$on_grid_from" ] || fail "nextbeat's beats never came back on the grid after the tempo change"
late_beats=$(awk -v c="$changed" -v f="$on_grid_from" '$1 == "beat" && $3 > c && $3 < f { n++ } END { print n + 0 }' "$tmp/replies")
follow_ms=$(awk -v a="$changed" -v b="$on_grid_from" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
awk -v f="$follow_ms" 'BEGIN { exit !(f <= 60000 / 130 + 15) }' || fail "followed the tempo change after $follow_ms ms (over a beat)"
read -r n130 max130 mean130 bar130 <<<"$(phase "$on_grid_from" 9e18)"
[ "$bar130" = 0 ] || fail "after the change, $bar130 beats are off the bar phase"
awk -v m="$max130" -v t="$tol_ms" 'BEGIN { exit !(m < t) }' || fail "phase error at 130 bpm up to $max130 ms (over $tol_ms ms)"
wait_until 5 'grep -q "osc /nextbeat/tempo" "$tmp/replies"' || fail "no /nextbeat/tempo echo of the session's change"

# (d) A tempo set over OSC to nextbeat is proposed to the session.
oscsend 127.0.0.1 "$osc_port" /nextbeat/tempo f 100
wait_until 5 'grep -q "^tempo 100.000" "$tmp/replies"' || fail "the tempo set over OSC did not reach the peer"

echo quit >&8
stop_daemon
grep -q "stopped:" "$log" || fail "no clean stop"
echo "Link: joined at 90 bpm without changing it; phase error at 90 bpm: max $max90 ms, mean $mean90 ms ($n90 beats);" \
  "tempo change 90 -> 130: on the new grid from the beat $follow_ms ms after it ($late_beats beat(s) off it before; a beat is 461.5 ms); at 130 bpm: max $max130 ms," \
  "mean $mean130 ms ($n130 beats); bars aligned; /nextbeat/tempo 100 reached the peer"
