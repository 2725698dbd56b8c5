#!/usr/bin/env bash
# check-config: a good file prints the effective config (exit 0) which reads
# back to the same output; a bad file prints file:line:col errors (exit 1).
set -uo pipefail
nextbeat=$1
src=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for good in "$src/config/nextbeat.toml" "$src/tests/data/config/good/non-defaults.toml" \
            "$src/tests/data/config/good/minimal.toml"; do
  "$nextbeat" check-config "$good" >"$tmp/first.toml" 2>"$tmp/err" || fail "check-config $good: $(cat "$tmp/err")"
  [ -s "$tmp/err" ] && fail "check-config $good wrote to stderr: $(cat "$tmp/err")"
  "$nextbeat" check-config "$tmp/first.toml" >"$tmp/second.toml" || fail "printed config of $good is rejected"
  cmp -s "$tmp/first.toml" "$tmp/second.toml" || fail "round trip of $good changed: $(diff "$tmp/first.toml" "$tmp/second.toml")"
done

# Defaults filled in: the minimal file prints every section.
# (Into a file first: grep -q leaving early would SIGPIPE check-config under pipefail.)
"$nextbeat" check-config "$src/tests/data/config/good/minimal.toml" >"$tmp/minimal.out" || fail "minimal.toml rejected"
for section in model midi osc audio clock engine sampling cc session log; do
  grep -qx "\[$section\]" "$tmp/minimal.out" || fail "effective config lacks [$section]"
done

# The bundled file prints exactly what the built-in defaults print.
printf '' >"$tmp/empty.toml"
"$nextbeat" check-config "$tmp/empty.toml" >"$tmp/defaults.toml" || fail "empty file rejected"
"$nextbeat" check-config "$src/config/nextbeat.toml" | cmp -s - "$tmp/defaults.toml" \
  || fail "bundled nextbeat.toml differs from the built-in defaults"

# Overrides.
"$nextbeat" check-config "$tmp/empty.toml" -o sampling.temperature=0.8 -o engine.mode=accompany >"$tmp/o.toml" \
  || fail "valid overrides rejected"
grep -q '^temperature = 0.8 ' "$tmp/o.toml" || fail "override of temperature not applied"
grep -q '^mode = "accompany" ' "$tmp/o.toml" || fail "override of mode not applied"
"$nextbeat" check-config "$tmp/empty.toml" -o sampling.temperature=0 >/dev/null 2>"$tmp/err" \
  && fail "out-of-range override accepted"
grep -q '^-o sampling.temperature=0: sampling.temperature: expected a number in 0.01..10, got 0$' "$tmp/err" \
  || fail "override error not as expected: $(cat "$tmp/err")"

# A bad file: exit 1, nothing on stdout, every error with file:line:col and key.
printf '[sampling]\ntemperature = 0\n[engine]\nmode = "jam"\n' >"$tmp/bad.toml"
out=$("$nextbeat" check-config "$tmp/bad.toml" 2>"$tmp/err")
status=$?
[ $status -eq 1 ] || fail "bad file exited $status, not 1"
[ -z "$out" ] || fail "bad file printed a config: $out"
grep -q "^$tmp/bad.toml:2:15: sampling.temperature: expected a number in 0.01..10, got 0$" "$tmp/err" \
  || fail "first error missing: $(cat "$tmp/err")"
grep -q "^$tmp/bad.toml:4:8: engine.mode: expected one of continue | call-response | accompany" "$tmp/err" \
  || fail "second error missing: $(cat "$tmp/err")"
grep -q "2 errors" "$tmp/err" || fail "no error count: $(cat "$tmp/err")"

"$nextbeat" check-config "$tmp/missing.toml" >/dev/null 2>"$tmp/err" && fail "missing file accepted"
grep -q "missing.toml: cannot read the config: No such file or directory" "$tmp/err" \
  || fail "missing file error: $(cat "$tmp/err")"
# Not a regular file: refused at once, not read (a FIFO used to hang, /dev/zero
# to read until allocation failed).
mkfifo "$tmp/fifo.toml"
timeout 10 "$nextbeat" check-config "$tmp/fifo.toml" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "FIFO: not refused with exit 1 within 10 s: $(cat "$tmp/err")"
grep -q "fifo.toml: cannot read the config: is not a regular file (a FIFO)" "$tmp/err" || fail "FIFO error: $(cat "$tmp/err")"
timeout 10 "$nextbeat" check-config /dev/zero >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "/dev/zero: not refused with exit 1 within 10 s: $(cat "$tmp/err")"
grep -q "/dev/zero: cannot read the config: is not a regular file (a character device)" "$tmp/err" \
  || fail "/dev/zero error: $(cat "$tmp/err")"
truncate -s 2G "$tmp/huge.toml"
timeout 10 "$nextbeat" check-config "$tmp/huge.toml" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "a 2 GB sparse config: not refused with exit 1 within 10 s"
grep -q "huge.toml: cannot read the config: is 2147483648 bytes, more than the 1048576 a config file may have" \
  "$tmp/err" || fail "huge file error: $(cat "$tmp/err")"
echo "check-config: ok"
