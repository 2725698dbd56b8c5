#!/usr/bin/python3
"""analyse.py REPORT.json BPM MAX_NOTE_BEATS [--plays I]... [--quiet I]...

Checks what the listener heard from nextbeat (performer.py's report) and
prints the figures. Exits 1 with a message when a check fails.

- nextbeat played notes.
- No note sounds longer than MAX_NOTE_BEATS (+ a quarter beat): each note-on
  ends at its note-off or at a CC 120/123 on its channel. A note ended only by
  the final sweep (after the "term" mark) that had already sounded too long
  counts as hanging, so the sweep on SIGTERM cannot hide a stuck note.
- MIDI clock out: a Start, 24 clocks a beat at BPM (within 1 %), a Stop after
  the "term" mark.
- On the beat: nextbeat schedules each note on its tick grid, and every grid
  tick is a MIDI clock; the output thread sends both, so each onset must come
  with a clock heard within one JACK period (5.3 ms at 256/48 kHz) + 1 ms.
- --plays I: nextbeat started at least 2 notes during segment I (performer.py
  segments: each play/wait, in order); --quiet I: it started none from one
  beat after segment I began to its end (continue mode stops when the
  performer plays again).
"""
import argparse
import bisect
import json
import sys


def fail(message):
    sys.exit(f"FAIL: {message}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("report")
    parser.add_argument("bpm", type=float)
    parser.add_argument("max_note_beats", type=float)
    parser.add_argument("--plays", type=int, action="append", default=[])
    parser.add_argument("--quiet", type=int, action="append", default=[])
    args = parser.parse_args()
    data = json.load(open(args.report))
    heard, segments, marks = data["heard"], data["segments"], data["marks"]
    beat_ns = 60e9 / args.bpm
    term = marks.get("term")
    if term is None:
        fail("the report has no 'term' mark")

    ons = [(t, m) for t, m in heard if len(m) == 3 and (m[0] & 0xF0) == 0x90 and m[2] > 0]
    print(f"heard {len(ons)} note-ons from nextbeat, {len(heard)} messages in all")
    if not ons:
        fail("nextbeat played nothing")

    # Lengths: every note-on to its end.
    sounding = {}
    lengths = []
    for t, m in heard:
        if len(m) != 3:
            continue
        kind, channel = m[0] & 0xF0, m[0] & 0x0F
        if kind == 0x90 and m[2] > 0:
            sounding[(channel, m[1])] = t
        elif kind == 0x80 or (kind == 0x90 and m[2] == 0):
            start = sounding.pop((channel, m[1]), None)
            if start is not None:
                lengths.append(t - start)
                if t - start > (args.max_note_beats + 0.25) * beat_ns:
                    where = [i for i, (_, a, b) in enumerate(segments) if a <= start <= b]
                    print(f"long note: channel {channel + 1} pitch {m[1]}, {(t - start) / 1e6:.0f} ms, "
                          f"from segment {where}")
        elif kind == 0xB0 and m[1] in (120, 123):
            for key in [k for k in sounding if k[0] == channel]:
                start = sounding.pop(key)
                # The final sweep after SIGTERM ends what was sounding then: a
                # note's length counts up to the term mark, not to the sweep.
                lengths.append(max(0, term - start) if t > term else t - start)
    hanging = sorted(sounding)
    allowed_ns = (args.max_note_beats + 0.25) * beat_ns
    too_long = [x for x in lengths if x > allowed_ns]
    print(f"note lengths: max {max(lengths) / 1e6:.0f} ms (max_note_beats {args.max_note_beats:g} = "
          f"{args.max_note_beats * beat_ns / 1e6:.0f} ms); {len(too_long)} too long; {len(hanging)} never ended")
    if hanging:
        fail(f"notes never ended: {hanging}")
    if too_long:
        fail(f"{len(too_long)} notes sounded longer than max_note_beats (longest {max(too_long) / 1e6:.0f} ms)")

    # MIDI clock out.
    clocks = [t for t, m in heard if m == [0xF8]]
    starts = [t for t, m in heard if m == [0xFA]]
    stops = [t for t, m in heard if m == [0xFC]]
    if not starts:
        fail("no MIDI Start (0xFA)")
    if not stops or stops[-1] < term:
        fail("no MIDI Stop (0xFC) after SIGTERM")
    before = [t for t in clocks if t < term]
    if len(before) < 100:
        fail(f"only {len(before)} MIDI clocks")
    per_beat = (len(before) - 1) / ((before[-1] - before[0]) / beat_ns)
    print(f"MIDI clock: {len(clocks)} clocks, {per_beat:.2f} a beat")
    if abs(per_beat - 24) > 0.24:
        fail(f"{per_beat:.2f} MIDI clocks a beat, not 24")

    # On the beat: each onset against the nearest clock heard.
    errors = []
    for t, _ in ons:
        i = bisect.bisect_left(clocks, t)
        near = [abs(t - clocks[j]) for j in (i - 1, i) if 0 <= j < len(clocks)]
        errors.append(min(near) / 1e6)
    errors.sort()
    median = errors[len(errors) // 2]
    p99 = errors[min(len(errors) - 1, int(0.99 * (len(errors) - 1) + 0.5))]
    print(f"onset error against the MIDI clock heard: median {median:.2f} ms, p99 {p99:.2f} ms, "
          f"max {errors[-1]:.2f} ms ({len(errors)} notes)")
    limit_ms = 256 / 48000 * 1000 + 1.0
    if p99 > limit_ms:
        fail(f"onsets off the beat grid: p99 {p99:.2f} ms > {limit_ms:.2f} ms")

    # What nextbeat did while the performer played or paused.
    for i in args.plays:
        name, start, end = segments[i]
        n = sum(1 for t, _ in ons if start <= t <= end)
        print(f"segment {i} ({name}): {n} notes from nextbeat")
        if n < 2:
            fail(f"nextbeat played {n} notes during '{name}' (segment {i}); expected it to play")
    for i in args.quiet:
        name, start, end = segments[i]
        n = sum(1 for t, _ in ons if start + beat_ns <= t <= end)
        print(f"segment {i} ({name}): {n} notes from nextbeat after its first beat")
        if n:
            fail(f"nextbeat played {n} notes during '{name}' (segment {i}); expected it to stay quiet")


if __name__ == "__main__":
    main()
