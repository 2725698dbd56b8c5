#!/usr/bin/env bash
# systemd's watchdog, with a fake NOTIFY_SOCKET: `nextbeat run` says READY=1
# and pings WATCHDOG=1 while its engine thread moves; when the engine thread
# wedges (fault injection: NEXTBEAT_FAULT_STALL_ENGINE_MS) the pings stop, so
# that systemd (WatchdogSec=) kills and restarts it, and the log says why.
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"

background /usr/bin/python3 "$(dirname "$0")/notify_peer.py" "$tmp/notify.sock" 25 >"$tmp/notify"
for _ in $(seq 50); do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done
[ -S "$tmp/notify.sock" ] || fail "the fake notify socket did not appear"

# Watchdog 1 s (pings every 0.5 s); the engine wedges 6 s after it starts (a loaded
# machine may take a few of those seconds to load the model).
NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=1000000 NEXTBEAT_FAULT_STALL_ENGINE_MS=6000 \
  "$nextbeat" run -o osc.port=$osc_port -o osc.reply_port=$((osc_port + 1)) >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "READY=1" "$tmp/notify" && break; sleep 0.1; done
grep -q "READY=1" "$tmp/notify" || fail "no READY=1"
grep -q "systemd watchdog: 1000 ms" "$log" || fail "the watchdog setting is not logged"
# Let the stall come (6 s after start) and pass well beyond one watchdog period.
for _ in $(seq 100); do grep -q "has not moved" "$log" && break; sleep 0.1; done
grep -q "the engine thread has not moved" "$log" || fail "the stall is not logged"
sleep 2
stop_daemon
pings=$(grep -c "WATCHDOG=1" "$tmp/notify")
[ "$pings" -ge 3 ] || fail "only $pings watchdog pings while the engine ran"
# The last ping came before the stall was noticed, and none for 2 s after it.
last_ping=$(grep "WATCHDOG=1" "$tmp/notify" | tail -1 | cut -d' ' -f1)
stopping=$(grep "STOPPING=1" "$tmp/notify" | tail -1 | cut -d' ' -f1)
[ -n "$stopping" ] || fail "no STOPPING=1 on SIGTERM"
awk -v a="$last_ping" -v b="$stopping" 'BEGIN { exit !(b - a >= 2.0) }' ||
  fail "a watchdog ping at ${last_ping}s came while the engine was wedged (stop at ${stopping}s)"
echo "watchdog: $pings pings while the engine ran, none for $(awk -v a="$last_ping" -v b="$stopping" 'BEGIN{printf "%.1f", b-a}') s after it wedged"
