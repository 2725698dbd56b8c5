#!/usr/bin/python3
"""analyse.py REPORT.json BPM TICKS_PER_BEAT: checks what the listener heard
from nextbeat and prints the timing figures.

Checks: nextbeat played notes; every note-on got its note-off (no stuck
note). Timing: nextbeat schedules each note on its grid (BPM x
TICKS_PER_BEAT ticks a minute); the error of each heard onset against the
grid, after fitting the grid's phase, is what the performer hears as
jitter (through JACK: nextbeat's output thread -> RtMidi's ring buffer ->
the next JACK period -> the listener's callback). Prints median and p99.
Exits 1 with a message when a check fails.
"""
import json
import math
import sys


def main():
    report, bpm, tpb = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    data = json.load(open(report))
    heard = data["heard"]
    ons = [(t, m) for t, m in heard if len(m) == 3 and (m[0] & 0xF0) == 0x90 and m[2] > 0]
    sounding = {}
    for t, m in heard:
        if len(m) != 3:
            continue
        kind, channel = m[0] & 0xF0, m[0] & 0x0F
        if kind == 0x90 and m[2] > 0:
            sounding[(channel, m[1])] = t
        elif kind == 0x80 or (kind == 0x90 and m[2] == 0):
            sounding.pop((channel, m[1]), None)
        elif kind == 0xB0 and m[1] in (120, 123):
            sounding = {k: v for k, v in sounding.items() if k[0] != channel}
    print(f"heard {len(ons)} note-ons from nextbeat, {len(heard)} messages in all")
    if not ons:
        sys.exit("FAIL: nextbeat played nothing")
    if sounding:
        sys.exit(f"FAIL: notes left sounding: {sorted(sounding)}")
    tick_ns = 60e9 / bpm / tpb
    # The grid's phase: the circular mean of the onsets modulo one tick.
    angles = [2 * math.pi * ((t % tick_ns) / tick_ns) for t, _ in ons]
    phase = math.atan2(sum(map(math.sin, angles)), sum(map(math.cos, angles)))
    errors = []
    for t, _ in ons:
        x = (t % tick_ns) / tick_ns * 2 * math.pi - phase
        x = (x + math.pi) % (2 * math.pi) - math.pi
        errors.append(abs(x) / (2 * math.pi) * tick_ns / 1e6)
    errors.sort()
    median = errors[len(errors) // 2]
    p99 = errors[min(len(errors) - 1, int(0.99 * (len(errors) - 1) + 0.5))]
    print(f"onset error against nextbeat's grid: median {median:.2f} ms, p99 {p99:.2f} ms, max {errors[-1]:.2f} ms "
          f"({len(errors)} notes; grid {tick_ns / 1e6:.2f} ms)")
    if p99 > tick_ns / 1e6 / 2:
        print("note: errors reach half a grid tick, so the phase fit cannot tell them apart")


if __name__ == "__main__":
    main()
