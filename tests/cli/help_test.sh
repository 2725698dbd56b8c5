#!/usr/bin/env bash
# --help lists the subcommands that exist, each has its own --help, and
# --version and bad usage behave like a command-line tool should.
set -uo pipefail
nextbeat=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

help=$("$nextbeat" --help) || fail "--help exited non-zero"
for sub in run devices check-config train eval generate bench doctor jam; do
  grep -qE "^  $sub " <<<"$help" || fail "--help does not list '$sub'"
  "$nextbeat" "$sub" --help >/dev/null || fail "'$sub --help' exited non-zero"
done
grep -q -- "--log-level" <<<"$help" || fail "--help does not list --log-level"
# Each option's help line shows its default (here train's peak learning rate, 0.002).
train_help=$("$nextbeat" train --help) || fail "'train --help' exited non-zero"
grep -E -- "--lr [^ ]*.*0\.002" <<<"$train_help" >/dev/null || fail "train --help does not show --lr's default: $train_help"
grep -q -- "--max-time" <<<"$train_help" || fail "train --help does not list --max-time"

version=$("$nextbeat" --version) || fail "--version exited non-zero"
[[ $version =~ ^nextbeat\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version printed '$version'"

# Usage errors: non-zero exit, message on stderr, nothing on stdout.
for args in "" "frobnicate" "check-config" "--log-level loud devices" "bench --size 3by512" "bench --steps 0" \
            "jam --out x.mid" "jam --performer / --out x.mid --mode loud"; do
  out=$("$nextbeat" $args 2>/tmp/nextbeat-help-err.$$) && fail "'nextbeat $args' exited 0"
  [ -z "$out" ] || fail "'nextbeat $args' wrote to stdout: $out"
  [ -s /tmp/nextbeat-help-err.$$ ] || fail "'nextbeat $args' printed no error"
done
rm -f /tmp/nextbeat-help-err.$$
echo "help: ok"
