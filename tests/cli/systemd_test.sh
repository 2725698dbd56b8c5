#!/usr/bin/env bash
# The systemd unit as CMake fills it: hardened (systemd-analyze security
# scores it <= 2.0) while it keeps what the daemon needs.
# Usage: systemd_test.sh UNIT_FILE
set -euo pipefail
unit=$1
command -v systemd-analyze >/dev/null || { echo "SKIP: needs systemd-analyze (package systemd)"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$unit" "$work/nextbeat.service"
systemd-analyze security --offline=true --threshold=20 "$work/nextbeat.service" >"$work/security.txt" 2>&1 ||
  { cat "$work/security.txt"; fail "exposure above 2.0"; }
grep "Overall exposure" "$work/security.txt"
# What the live path needs must survive the hardening.
for needed in "LimitRTPRIO=95" "RestrictRealtime=no" "DeviceAllow=char-alsa rw" "IPAddressAllow=localhost" \
              "StateDirectory=nextbeat" "WatchdogSec=" "MemoryMax=" "TasksMax=" "JACK_PROMISCUOUS_SERVER" \
              "Type=notify"; do
  grep -q "^[A-Za-z]*=*.*$needed" "$work/nextbeat.service" || fail "the unit lacks $needed"
done
grep -q "^ExecStart=.* run --config \${STATE_DIRECTORY}/nextbeat.toml" "$work/nextbeat.service" ||
  fail "ExecStart does not read the writable config in the state directory"
grep -q "LimitMEMLOCK" "$work/nextbeat.service" && fail "LimitMEMLOCK is set but nextbeat never calls mlock"
echo "systemd unit: ok"
