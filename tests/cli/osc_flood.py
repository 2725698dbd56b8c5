"""Floods 127.0.0.1:PORT with OSC for SECONDS at RATE messages a second: a
mix of note-ons and note-offs (each a model step), controls and unknown addresses, with a performer's melody
(quarter notes at 120 bpm) woven in. Prints how many it sent."""
import random
import socket
import struct
import sys
import time


def pad(data: bytes) -> bytes:
    return data + b"\0" * (4 - len(data) % 4)


def message(address: str, tags: str, *values) -> bytes:
    out = pad(address.encode()) + pad(("," + tags).encode())
    for tag, value in zip(tags, values):
        out += struct.pack(">i", value) if tag == "i" else struct.pack(">f", value)
    return out


port, seconds, rate = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
rng = random.Random(5)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flood = [message("/nextbeat/temperature", "f", 0.9), message("/nextbeat/density", "f", 1.0),
         message("/nextbeat/nosuch", "i", 1), message("/nextbeat/top_k", "i", 0)]
flood += [message("/nextbeat/note", "ii", p, 0) for p in range(40, 60)]  # note-offs
flood += [message("/nextbeat/note", "ii", p, 70) for p in range(40, 60)]  # note-ons: a model step each
melody = [60, 62, 64, 65, 67, 65, 64, 62]
start = time.monotonic()
sent = 0
next_note = 0.5
while (now := time.monotonic() - start) < seconds:
    if now >= next_note:
        pitch = melody[int(next_note * 2) % len(melody)]
        sock.sendto(message("/nextbeat/note", "ii", pitch, 90), ("127.0.0.1", port))
        sock.sendto(message("/nextbeat/note", "ii", pitch, 0), ("127.0.0.1", port))
        next_note += 0.5
    due = int(now * rate)
    while sent < due:
        sock.sendto(rng.choice(flood), ("127.0.0.1", port))
        sent += 1
    time.sleep(0.001)
print(sent)
