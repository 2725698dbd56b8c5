#!/usr/bin/env bash
# `nextbeat jam` as a user runs it: a small public-domain tune made here
# (melody + chords, a tempo change), the duet read back by mido (two named
# parts, every note-on ended), --json parsed, a run with --ideal-time and
# --seed repeated byte for byte, a wrong --part named with the parts there
# are; and, when ../shared/data is there, one JSB valid chorale.
set -uo pipefail
nextbeat=$1
src=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
/usr/bin/python3 -c 'import mido' 2>/dev/null || { echo "SKIP: python3-mido is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "Twinkle, twinkle" (traditional): melody on track "melody" (channel 1),
# chords on track "chords" (channel 2), 110 bpm then 130 bpm from bar 3.
/usr/bin/python3 - "$tmp/twinkle.mid" <<'EOF'
import sys, mido
f = mido.MidiFile(ticks_per_beat=480)
tempo = mido.MidiTrack(); f.tracks.append(tempo)
tempo.append(mido.MetaMessage('set_tempo', tempo=mido.bpm2tempo(110), time=0))
tempo.append(mido.MetaMessage('set_tempo', tempo=mido.bpm2tempo(130), time=8 * 480))
melody = [60, 60, 67, 67, 69, 69, 67, None, 65, 65, 64, 64, 62, 62, 60, None]
chords = [[48, 52, 55], [53, 57, 60], [48, 52, 55], [43, 47, 50]]
t = mido.MidiTrack(); f.tracks.append(t)
t.append(mido.MetaMessage('track_name', name='melody'))
rest = 0
for p in melody:
    if p is None:
        rest += 480
        continue
    t.append(mido.Message('note_on', note=p, velocity=90, time=rest, channel=0))
    t.append(mido.Message('note_off', note=p, velocity=0, time=440, channel=0))
    rest = 40
c = mido.MidiTrack(); f.tracks.append(c)
c.append(mido.MetaMessage('track_name', name='chords'))
for chord in chords:
    for p in chord: c.append(mido.Message('note_on', note=p, velocity=60, time=0, channel=1))
    for i, p in enumerate(chord): c.append(mido.Message('note_off', note=p, velocity=0, time=4 * 480 if i == 0 else 0, channel=1))
f.save(sys.argv[1])
EOF
[ -s "$tmp/twinkle.mid" ] || fail "could not write the test tune"

run=(--performer "$tmp/twinkle.mid" --part name:melody --seed 3 --ideal-time)
"$nextbeat" jam "${run[@]}" --out "$tmp/a.mid" --svg "$tmp/a.svg" >"$tmp/a.out" 2>"$tmp/a.err" \
  || fail "jam: $(cat "$tmp/a.err")"
grep -q "note in the sounding chord" "$tmp/a.out" || fail "no report table: $(cat "$tmp/a.out")"
grep -q "<svg" "$tmp/a.svg" || fail "no SVG"

# The duet, as another program reads it.
/usr/bin/python3 - "$tmp/a.mid" <<'EOF' || fail "the duet is not what mido should read"
import sys, mido
f = mido.MidiFile(sys.argv[1])
parts = {}
for track in f.tracks:
    notes = [m for m in track if m.type in ('note_on', 'note_off')]
    if not notes:
        continue
    parts[track.name] = notes
    held = {}
    for m in notes:
        key = (m.channel, m.note)
        if m.type == 'note_on' and m.velocity > 0:
            held[key] = held.get(key, 0) + 1
        else:
            assert held.get(key, 0) > 0, f"{track.name}: note-off without a note-on: {m}"
            held[key] -= 1
    assert not any(held.values()), f"{track.name}: note-ons never ended: {held}"
assert sorted(parts) == ['nextbeat', 'performer'], f"parts: {sorted(parts)}"
assert sum(1 for m in parts['performer'] if m.type == 'note_on' and m.velocity > 0) == 14
assert any(m.type == 'note_on' and m.velocity > 0 for m in parts['nextbeat']), "nextbeat played nothing"
tempos = [m.tempo for t in f.tracks for m in t if m.type == 'set_tempo']
assert [round(mido.tempo2bpm(x)) for x in tempos] == [110, 130], f"tempo map: {tempos}"
EOF

# Repeatable: the same seed and ideal time give the same file.
"$nextbeat" jam "${run[@]}" --out "$tmp/b.mid" >/dev/null 2>"$tmp/b.err" || fail "jam again: $(cat "$tmp/b.err")"
cmp -s "$tmp/a.mid" "$tmp/b.mid" || fail "two runs with --seed 3 --ideal-time differ"

# --json parses, with the figures and the engine's counts.
"$nextbeat" jam "${run[@]}" --out "$tmp/c.mid" --json >"$tmp/c.json" 2>"$tmp/c.err" || fail "--json: $(cat "$tmp/c.err")"
/usr/bin/python3 - "$tmp/c.json" <<'EOF' || fail "--json output: $(cat "$tmp/c.json")"
import sys, json
d = json.load(open(sys.argv[1]))
p = d['pooled']
assert d['mode'] == 'accompany' and d['time'] == 'ideal'
assert p['nextbeat']['notes'] > 0
assert p['random_in_key']['notes'] == p['nextbeat']['notes']
assert p['accompaniment']['in_chord']['ratio'] == 1.0
assert p['engine']['misses'] == 0
assert len(d['files']) == 1
EOF

# A part that is not there: an error naming the parts there are.
if "$nextbeat" jam --performer "$tmp/twinkle.mid" --part name:violin --out "$tmp/d.mid" >/dev/null 2>"$tmp/d.err"; then
  fail "--part name:violin succeeded"
fi
grep -qi "melody" "$tmp/d.err" || fail "the error does not list the parts: $(cat "$tmp/d.err")"
"$nextbeat" jam --help | grep -q "track:N" || fail "--help does not document --part"

# Split keyboard: --hints plays the chords (below midi.split_note) into the
# engine as the performer's left hand; without a split point it is refused.
if "$nextbeat" jam "${run[@]}" --hints --out "$tmp/h0.mid" >/dev/null 2>"$tmp/h0.err"; then
  fail "--hints without midi.split_note succeeded"
fi
grep -q "midi.split_note" "$tmp/h0.err" || fail "--hints error does not name midi.split_note: $(cat "$tmp/h0.err")"
"$nextbeat" jam "${run[@]}" --hints -o midi.split_note=56 --out "$tmp/h.mid" --json >"$tmp/h.json" 2>"$tmp/h.err" \
  || fail "--hints: $(cat "$tmp/h.err")"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["hints"] is True' "$tmp/h.json" \
  || fail "--hints: the report does not say hints: $(head -c 400 "$tmp/h.json")"
cmp -s "$tmp/a.mid" "$tmp/h.mid" && fail "--hints changed nothing that nextbeat played"

# A directory: outputs per file, pooled figures.
mkdir -p "$tmp/in" && cp "$tmp/twinkle.mid" "$tmp/in/one.mid" && cp "$tmp/twinkle.mid" "$tmp/in/two.mid"
"$nextbeat" jam --performer "$tmp/in" --part melody --seed 3 --ideal-time --out "$tmp/out" --json >"$tmp/e.json" \
  2>"$tmp/e.err" || fail "directory: $(cat "$tmp/e.err")"
[ -s "$tmp/out/one.mid" ] && [ -s "$tmp/out/two.mid" ] || fail "directory: no per-file duets"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["pooled"]["files"] == 2' "$tmp/e.json" \
  || fail "directory: not pooled over 2 files"

# One JSB valid chorale (soprano = the first track with notes), when the shared data is here.
jsb=${NEXTBEAT_SHARED_DATA:-$src/../shared/data}/jsb_chorales/jsb-chorales-16th-satb-midi.tar.gz
if [ -f "$jsb" ]; then
  tar xzf "$jsb" -C "$tmp" jsb-chorales-16th-satb-midi/valid/valid_000.mid || fail "cannot extract a JSB file"
  "$nextbeat" jam --performer "$tmp/jsb-chorales-16th-satb-midi/valid/valid_000.mid" --seed 1 --out "$tmp/j.mid" \
    >"$tmp/j.out" 2>"$tmp/j.err" || fail "JSB: $(cat "$tmp/j.err")"
  grep -q "note in the sounding chord" "$tmp/j.out" || fail "JSB: no report"
else
  echo "note: no shared JSB data at $jsb; the JSB part of this test did not run"
fi
echo "jam: ok"
