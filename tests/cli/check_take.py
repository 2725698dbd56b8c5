#!/usr/bin/python3
"""check_take.py: reads a take nextbeat recorded (/nextbeat/record) with mido
and checks what a DAW would need of it:

  - a format 1 Standard MIDI File whose tracks are named "tempo",
    "performer" and "nextbeat", in that order;
  - every note-on (velocity > 0) has its note-off on its track, and no
    note-off comes without its note-on;
  - at least --performer N and --nextbeat N note-ons on those tracks, and
    --tempos N tempo events (1).

Prints "performer=N nextbeat=N tempos=N seconds=S" and exits 0, or prints
what is wrong and exits 1.
  check_take.py FILE [--performer N] [--nextbeat N] [--tempos N]
"""
import argparse
import sys

import mido


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--performer", type=int, default=0)
    parser.add_argument("--nextbeat", type=int, default=0)
    parser.add_argument("--tempos", type=int, default=1)
    args = parser.parse_args()
    problems = []
    midi = mido.MidiFile(args.file)
    if midi.type != 1:
        problems.append(f"format {midi.type}, expected 1")
    names = [track.name for track in midi.tracks]
    if names != ["tempo", "performer", "nextbeat"]:
        problems.append(f"tracks {names}, expected ['tempo', 'performer', 'nextbeat']")
    tempos = sum(1 for track in midi.tracks for m in track if m.type == "set_tempo")
    if tempos < args.tempos:
        problems.append(f"{tempos} tempo events, expected at least {args.tempos}")
    counts = {}
    for track in midi.tracks:
        sounding = {}
        ons = 0
        for message in track:
            key = (getattr(message, "channel", None), getattr(message, "note", None))
            if message.type == "note_on" and message.velocity > 0:
                sounding[key] = sounding.get(key, 0) + 1
                ons += 1
            elif message.type == "note_off" or (message.type == "note_on" and message.velocity == 0):
                if sounding.get(key, 0) == 0:
                    problems.append(f"{track.name}: a note-off of {key} that is not sounding")
                else:
                    sounding[key] -= 1
        left = {k: v for k, v in sounding.items() if v}
        if left:
            problems.append(f"{track.name}: note-ons without a note-off: {left}")
        counts[track.name] = ons
    if counts.get("performer", 0) < args.performer:
        problems.append(f"{counts.get('performer', 0)} performer notes, expected at least {args.performer}")
    if counts.get("nextbeat", 0) < args.nextbeat:
        problems.append(f"{counts.get('nextbeat', 0)} nextbeat notes, expected at least {args.nextbeat}")
    print(f"performer={counts.get('performer', 0)} nextbeat={counts.get('nextbeat', 0)} tempos={tempos} "
          f"seconds={midi.length:.2f}")
    for p in problems:
        print("problem:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
