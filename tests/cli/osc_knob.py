"""Plays a performer over OSC to a running `nextbeat run` and turns one knob
while it plays: PHASE_BEATS beats at each VALUE in turn, the knob sent by OSC
between them. Counts the note-ons nextbeat sends back (/nextbeat/out/note on
the reply port) in each phase, leaving out the first beat after each turn
(the beat already rolled out), and prints one line per phase:
"VALUE NOTES_PER_BEAT MEAN_VELOCITY".
Usage: osc_knob.py PORT REPLY_PORT BPM PHASE_BEATS CONTROL VALUE..."""
import socket
import struct
import sys
import threading
import time


def pad(data: bytes) -> bytes:
    return data + b"\0" * (4 - len(data) % 4)


def message(address: str, tags: str, *values) -> bytes:
    payload = b""
    for kind, value in zip(tags, values):
        payload += struct.pack(">i", value) if kind == "i" else struct.pack(">f", value)
    return pad(address.encode()) + pad(("," + tags).encode()) + payload


def parse(data: bytes):
    """(address, [ints]) of a plain message; None for anything else."""
    end = data.index(b"\0")
    address = data[:end].decode(errors="replace")
    at = (end // 4 + 1) * 4
    if data[at:at + 1] != b",":
        return None
    tend = data.index(b"\0", at)
    tags = data[at + 1:tend].decode()
    at = (tend // 4 + 1) * 4
    values = []
    for kind in tags:
        if kind in "if":
            values.append(struct.unpack(">i" if kind == "i" else ">f", data[at:at + 4])[0])
            at += 4
        else:
            return address, values
    return address, values


port, reply_port, bpm, phase_beats, control = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                                               int(sys.argv[4]), sys.argv[5])
values = [float(v) for v in sys.argv[6:]]
beat_s = 60.0 / bpm
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
listen.bind(("127.0.0.1", reply_port))
listen.settimeout(0.2)
heard = []  # (time, velocity) of each note-on nextbeat sends
stop = False


def receive():
    while not stop:
        try:
            data = listen.recv(4096)
        except socket.timeout:
            continue
        parsed = parse(data)
        if parsed and parsed[0] == "/nextbeat/out/note" and len(parsed[1]) >= 2 and parsed[1][1] > 0:
            heard.append((time.monotonic(), parsed[1][1]))


threading.Thread(target=receive, daemon=True).start()
pitches = [60, 64, 67, 72, 67, 64, 62, 65, 69, 71]


def play(beats: int):
    for i in range(beats):
        p = pitches[i % len(pitches)]
        out.sendto(message("/nextbeat/note", "ii", p, 90), ("127.0.0.1", port))
        time.sleep(beat_s * 0.8)
        out.sendto(message("/nextbeat/note", "ii", p, 0), ("127.0.0.1", port))
        time.sleep(beat_s * 0.2)


play(4)  # nextbeat hears a performer and starts accompanying
for value in values:
    out.sendto(message("/nextbeat/" + control, "f", value), ("127.0.0.1", port))
    start = time.monotonic() + beat_s  # the beat already rolled out is not this value's
    play(phase_beats)
    end = time.monotonic()
    notes = [v for t, v in heard if start <= t < end]
    mean = sum(notes) / len(notes) if notes else 0
    print(f"{value} {len(notes) / ((end - start) / beat_s):.2f} {mean:.1f}", flush=True)
stop = True
