#!/usr/bin/env bash
# `nextbeat train` killed with SIGKILL while it writes a checkpoint (the
# temporary file is there, the rename not done), then --resume: the
# checkpoint is the old one, whole (never a torn file), the resumed run goes
# on from its step, and its validation curve is the one an uninterrupted run
# draws. Bundled data (tests/data), a model big enough (~1 M parameters, a
# ~12 MB checkpoint) that a write lasts long enough to be caught.
# train_kill_test.sh NEXTBEAT SOURCE_DIR
set -uo pipefail
nextbeat=$1
src=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
data=$src/tests/data/jsb-quarter-small.json
[ -f "$data" ] || { echo "SKIP: $data missing"; exit 77; }
run=(--data "$data" --codec pianoroll --embed 32 --hidden 256 --layers 2 --batch 4 --window 32 --lr 0.003
     --warmup 2 --checkpoint-every 2 --patience 1000 --epochs 6 --seed 5)

"$nextbeat" train "${run[@]}" --out "$tmp/a.nbm" >/dev/null 2>"$tmp/a.err" || fail "train: $(tail -5 "$tmp/a.err")"

caught=
for attempt in 1 2 3; do
  rm -f "$tmp"/b.nbm* "$tmp"/.b.nbm*
  "$nextbeat" train "${run[@]}" --out "$tmp/b.nbm" >/dev/null 2>"$tmp/b.err" &
  pid=$!
  result=$(/usr/bin/python3 "$(dirname "$0")/kill_in_write.py" "$pid" "$tmp/b.nbm.ckpt" 120)
  wait "$pid" 2>/dev/null
  status=$?
  pid=
  if [[ $result == caught* ]]; then
    [ $status -eq 137 ] || fail "train was not killed by the SIGKILL (exit $status)"
    caught=${result#caught }
    break
  fi
done
[ -n "$caught" ] || fail "no checkpoint write caught in progress in 3 runs ($result)"
lines=$(grep -c valid_loss "$tmp/b.nbm.metrics.jsonl")
[ "$lines" -lt 6 ] || fail "killed too late ($lines of 6 epochs done)"

"$nextbeat" train "${run[@]}" --out "$tmp/b.nbm" --resume >/dev/null 2>"$tmp/r.err" || fail "resume: $(tail -5 "$tmp/r.err")"
# The half-written temporary file is left behind (SIGKILL leaves no chance to remove it); the checkpoint is whole.
ls -a "$tmp" | grep -q '^\.b\.nbm\.ckpt\.tmp\.' || fail "no half-written temporary file: not killed mid-write?"
/usr/bin/python3 - "$tmp/b.nbm.metrics.jsonl" <<'PY' || fail "the metrics after the resume"
import json, sys
steps = [json.loads(l)["step"] for l in open(sys.argv[1]) if l.strip()]
assert steps == sorted(set(steps)), f"steps repeat or go back: {steps}"
PY
extract() { grep -o '"valid_loss":[^,}]*' "$1"; }
diff <(extract "$tmp/a.nbm.metrics.jsonl") <(extract "$tmp/b.nbm.metrics.jsonl") >"$tmp/diff" ||
  fail "the resumed curve differs from the uninterrupted one: $(cat "$tmp/diff")"
echo "train killed mid-checkpoint (temporary file at $caught bytes, $lines epochs done), resumed: same curve"
