#!/usr/bin/env bash
# The default model keeps playing when the performer is not on nextbeat's
# beat grid, as on an internal clock the performer does not share: `nextbeat
# jam` over a tune played on the grid, a constant 0.4 beat late, and 10 %
# faster than nextbeat's tempo (the phase drifts through every position).
# Over three seeds, nextbeat's mean notes per beat off the grid must stay at
# least half what it plays on the grid (and 0.5). A roles model trained
# on the grid alone played 1.2 notes a beat late and 1.0 faster, against 3.4
# on it (2026-12); the bundled model 3.4 and 1.6 against 1.6.
# MODEL (environment) tries another model the same way.
set -uo pipefail
nextbeat=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
/usr/bin/python3 -c 'import mido' 2>/dev/null || { echo "SKIP: python3-mido is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "Twinkle, twinkle" (traditional) four times, 120 bpm: one track, the performer's.
/usr/bin/python3 - "$tmp" <<'PY' || fail "could not write the test tunes"
import sys, mido
melody = [60, 60, 67, 67, 69, 69, 67, None, 65, 65, 64, 64, 62, 62, 60, None] * 4
def write(name, beat_of):
    f = mido.MidiFile(ticks_per_beat=480)
    t = mido.MidiTrack(); f.tracks.append(t)
    t.append(mido.MetaMessage('set_tempo', tempo=mido.bpm2tempo(120), time=0))
    events = []
    for i, p in enumerate(melody):
        if p is None:
            continue
        start = beat_of(i)
        events.append((round(start * 480), 'note_on', p))
        events.append((round((start + 0.8) * 480), 'note_off', p))
    events.sort(key=lambda e: (e[0], e[1] == 'note_on'))
    now = 0
    for tick, kind, p in events:
        t.append(mido.Message(kind, note=p, velocity=90 if kind == 'note_on' else 0, time=tick - now))
        now = tick
    f.save(f'{sys.argv[1]}/{name}.mid')
write('on', lambda i: i)
write('late', lambda i: i + 0.4)
write('drift', lambda i: i / 1.1 + 0.25)
PY

model=(--model "${MODEL:-default:events}")
npb() {  # FILE SEED -> nextbeat's notes per beat
  "$nextbeat" jam "${model[@]}" --performer "$tmp/$1.mid" --seed "$2" --ideal-time --out "$tmp/$1-$2-out.mid" --json \
    2>"$tmp/err" | /usr/bin/python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["pooled"]["nextbeat"]["notes_per_beat"])' \
    || fail "jam $1 seed $2: $(cat "$tmp/err")"
}
sum_on=0 sum_late=0 sum_drift=0
for seed in 1 2 3; do
  on=$(npb on "$seed") || exit 1
  late=$(npb late "$seed") || exit 1
  drift=$(npb drift "$seed") || exit 1
  echo "seed $seed: notes per beat on the grid $on, 0.4 beat late $late, 10 % faster $drift"
  read -r sum_on sum_late sum_drift < <(awk -v a="$sum_on $sum_late $sum_drift" -v b="$on $late $drift" \
    'BEGIN { split(a, x); split(b, y); print x[1] + y[1], x[2] + y[2], x[3] + y[3] }')
done
# Means over the seeds: one seed's rate on the grid varies threefold.
for which in "0.4 beat late:$sum_late" "10 % faster:$sum_drift"; do
  awk -v off="${which#*:}" -v on="$sum_on" 'BEGIN { exit !(off / 3 >= 0.5 && off >= on / 2) }' \
    || fail "${which%%:*}, nextbeat fell nearly silent off the grid: $(awk -v s="${which#*:}" 'BEGIN { printf "%.2f", s / 3 }') notes a beat against $(awk -v s="$sum_on" 'BEGIN { printf "%.2f", s / 3 }') on it (means of 3 seeds)"
done
echo "jam off the grid: ok"
