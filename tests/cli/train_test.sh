#!/usr/bin/env bash
# train -> eval -> generate with the real binary on 40 public-domain
# chorales, in seconds; a kill -9 in the middle of training followed by
# --resume gives the same validation curve as an uninterrupted run. (The
# frame-nll protocol's anchor, on the shared data: eval_anchor_test.sh.)
set -uo pipefail
nextbeat=$1
src=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
data=$src/tests/data/jsb-quarter-small.json
tiny=(--data "$data" --codec pianoroll --embed 16 --hidden 24 --layers 1 --batch 4 --window 32 --lr 0.01
      --warmup 2 --checkpoint-every 3 --transpose 2 --patience 1000)

# Straight through.
"$nextbeat" train "${tiny[@]}" --epochs 12 --seed 7 --out "$tmp/a.nbm" >"$tmp/a.out" 2>"$tmp/a.err" \
  || fail "train: $(cat "$tmp/a.err")"
grep -q "best valid NLL" "$tmp/a.out" || fail "no summary: $(cat "$tmp/a.out")"
for f in a.nbm a.nbm.ckpt a.nbm.metrics.jsonl a.nbm.loss.svg; do [ -s "$tmp/$f" ] || fail "$f missing"; done
[ "$(grep -c valid_loss "$tmp/a.nbm.metrics.jsonl")" -eq 12 ] || fail "expected 12 validation lines"
grep -q "^epoch 1/12 .*valid" "$tmp/a.err" || fail "no plain progress lines when not on a terminal"

# Killed with SIGKILL after a few epochs, then resumed.
"$nextbeat" train "${tiny[@]}" --epochs 12 --seed 7 --out "$tmp/b.nbm" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 300); do
  [ "$(cat "$tmp/b.nbm.metrics.jsonl" 2>/dev/null | grep -c valid_loss)" -ge 4 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
kill -0 "$pid" 2>/dev/null || fail "training ended before it could be killed (make the run longer)"
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
[ "$(grep -c valid_loss "$tmp/b.nbm.metrics.jsonl")" -lt 12 ] || fail "the kill came too late"
"$nextbeat" train "${tiny[@]}" --epochs 12 --seed 7 --out "$tmp/b.nbm" --resume >/dev/null 2>"$tmp/b.err" \
  || fail "resume: $(cat "$tmp/b.err")"
extract() { grep -o '"valid_loss":[^,}]*' "$1"; }
diff <(extract "$tmp/a.nbm.metrics.jsonl") <(extract "$tmp/b.nbm.metrics.jsonl") >"$tmp/diff" \
  || fail "resumed curve differs: $(cat "$tmp/diff")"
"$nextbeat" train "${tiny[@]}" --epochs 12 --out "$tmp/b.nbm" --resume --seed 8 >/dev/null 2>"$tmp/err" \
  && fail "resume with another seed accepted"
grep -q "cannot resume.*seed" "$tmp/err" || fail "resume mismatch error: $(cat "$tmp/err")"

# Evaluate, as text and JSON.
"$nextbeat" eval --model "$tmp/a.nbm" --data "$data" --generate 2 --json >"$tmp/eval.json" 2>"$tmp/err" \
  || fail "eval: $(cat "$tmp/err")"
/usr/bin/python3 - "$tmp/eval.json" <<'PY' || fail "eval report: $(cat "$tmp/eval.json")"
import json, math, sys
r = json.load(open(sys.argv[1]))
assert r["protocol"] == "frame-nll" and r["split"] == "test" and r["sequences"] == 8, r
assert 0 < r["nll"] < 61 and 0 <= r["frame_accuracy"] <= 1, r
assert r["generation"]["continuations"] == 2, r
PY
"$nextbeat" eval --model "$tmp/a.nbm" --data "$data" --protocol token-nll >/dev/null 2>"$tmp/err" \
  && fail "token-nll accepted for a pianoroll model"
grep -q "needs an events model" "$tmp/err" || fail "protocol mismatch error: $(cat "$tmp/err")"

# Generate: MIDI read back by mido, WAV and SVG written.
/usr/bin/python3 - "$tmp/prime.mid" <<'PY' || fail "could not write a prime with mido"
import mido, sys
f = mido.MidiFile(ticks_per_beat=480); t = mido.MidiTrack(); f.tracks.append(t)
for p in (60, 64, 67, 72):
    t.append(mido.Message("note_on", note=p, velocity=80, time=0)); t.append(mido.Message("note_off", note=p, time=480))
f.save(sys.argv[1])
PY
"$nextbeat" generate --model "$tmp/a.nbm" --prime "$tmp/prime.mid" --beats 8 --out "$tmp/out.mid" \
  --wav "$tmp/out.wav" --svg "$tmp/out.svg" --seed 3 --temperature 0.9 >"$tmp/gen.out" 2>"$tmp/err" \
  || fail "generate: $(cat "$tmp/err")"
/usr/bin/python3 -c "import mido; f=mido.MidiFile('$tmp/out.mid'); n=sum(1 for t in f.tracks for m in t if m.type=='note_on' and m.velocity>0); assert n>=4, n" \
  || fail "generated MIDI unreadable"
[ "$(head -c 4 "$tmp/out.wav")" = RIFF ] || fail "no WAV"
grep -q "<svg" "$tmp/out.svg" || fail "no SVG"
"$nextbeat" generate --model "$tmp/a.nbm" --prime "$tmp/prime.mid" --out "$tmp/x.mid" --key H >/dev/null 2>"$tmp/err" \
  && fail "bad key accepted"
grep -q -- "--key H: expected a key name" "$tmp/err" || fail "bad key error: $(cat "$tmp/err")"

# A time budget: stops by itself, exits 0, says so, and leaves a model that loads.
start=$(date +%s)
"$nextbeat" train "${tiny[@]}" --epochs 100000 --max-time 3s --seed 7 --out "$tmp/t.nbm" >"$tmp/t.out" \
  2>"$tmp/t.err" || fail "train --max-time: $(cat "$tmp/t.err")"
(( $(date +%s) - start < 60 )) || fail "--max-time 3s ran for $(( $(date +%s) - start )) s"
grep -q "stopped at the time budget" "$tmp/t.out" || fail "no budget message: $(cat "$tmp/t.out")"
[ -s "$tmp/t.nbm.ckpt" ] || fail "no checkpoint after the budget"
"$nextbeat" eval --model "$tmp/t.nbm" --data "$data" >/dev/null 2>"$tmp/err" || fail "budget model: $(cat "$tmp/err")"
"$nextbeat" train "${tiny[@]}" --max-time 3x --out "$tmp/x.nbm" >/dev/null 2>"$tmp/err" && fail "--max-time 3x accepted"
grep -q "expected a duration" "$tmp/err" || fail "bad duration error: $(cat "$tmp/err")"
# Roles with solo copies: the model file says it plays alone, and eval --alone
# scores it with every part its own (five SATB chorales, soprano the performer).
satb=$src/tests/data/jsb_chorales
roles=(--data "$satb" --codec events --embed 16 --hidden 24 --layers 1 --batch 2 --window 32 --lr 0.01 --warmup 2
       --epochs 1 --seed 7 --roles)
"$nextbeat" train "${roles[@]}" --solo-copies --out "$tmp/r.nbm" >"$tmp/r.out" 2>"$tmp/r.err" \
  || fail "train --roles --solo-copies: $(cat "$tmp/r.err")"
grep -q "4 train / 2 valid / 4 test sequences" "$tmp/r.err" \
  || fail "solo copies not read: $(grep '^data:' "$tmp/r.err")"
"$nextbeat" eval --model "$tmp/r.nbm" --data "$satb" --alone --generate 1 --prime-beats 4 --beats 4 --json \
  >"$tmp/r.json" 2>"$tmp/err" || fail "eval --alone: $(cat "$tmp/err")"
"$nextbeat" eval --model "$tmp/r.nbm" --data "$satb" --generate 1 --prime-beats 4 --beats 4 --json >"$tmp/r2.json" \
  2>"$tmp/err" || fail "eval: $(cat "$tmp/err")"
/usr/bin/python3 - "$tmp/r.json" "$tmp/r2.json" <<'PY' || fail "eval --alone report: $(cat "$tmp/r.json")"
import json, sys
alone, along = (json.load(open(f)) for f in sys.argv[1:])
assert alone["alone"] is True and along["alone"] is False, (alone, along)
# Alone its continuation is compared with all four voices', along with the soprano with three.
real = lambda r: r["generation"]["reference_real_continuations"]["notes"]
assert real(alone) > real(along) > 0, (real(alone), real(along))
PY
"$nextbeat" train "${roles[@]/--roles/--solo-copies}" --out "$tmp/x.nbm" >/dev/null 2>"$tmp/err" \
  && fail "--solo-copies without --roles accepted"
grep -q "solo-copies needs --roles" "$tmp/err" || fail "--solo-copies error: $(cat "$tmp/err")"
echo "train/eval/generate: ok"
