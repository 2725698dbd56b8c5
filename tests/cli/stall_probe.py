#!/usr/bin/python3
"""stall_probe.py PID OSC_PORT REPLY_PORT STOP_S: listens on REPLY_PORT for
nextbeat's OSC (/nextbeat/out/note, /nextbeat/beat), stamps each message
with the monotonic clock, makes the performer heard (one note over OSC),
lets it play 4 s, stops PID with SIGSTOP (just before a beat) for STOP_S seconds, sends SIGCONT,
listens 4 s more, and prints one line of figures:

  before_max_100ms=N after_cont_100ms=N beats_after=N notes_after=N

before_max_100ms: the most note-ons in any 100 ms window while it played
normally; after_cont_100ms: note-ons in the 100 ms after SIGCONT that come
before its first beat (what the stop left behind);
beats_after / notes_after: in the 4 s after SIGCONT (the clock resumed)."""
import os
import signal
import socket
import struct
import sys
import time

pid, osc_port, reply_port, stop_s = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])


def pad(data):
    return data + b"\0" * (4 - len(data) % 4)


def message(address, tags, *values):
    out = pad(address.encode()) + pad(("," + tags).encode())
    for value in values:
        out += struct.pack(">i", value)
    return out


def parse(data):
    end = data.index(b"\0")
    address = data[:end].decode()
    at = (end + 4) & ~3
    tend = data.index(b"\0", at)
    tags = data[at + 1 : tend].decode()
    at = (tend + 4) & ~3
    ints = []
    for tag in tags:
        if tag == "i":
            ints.append(struct.unpack(">i", data[at : at + 4])[0])
        at += 4 if tag in "if" else 0
    return address, ints


listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
listen.bind(("127.0.0.1", reply_port))
listen.settimeout(0.05)
send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
events = []  # (ns, "on" | "beat")


def listen_until(deadline):
    while time.monotonic() < deadline:
        try:
            data = listen.recv(65536)
        except socket.timeout:
            continue
        stamp = time.monotonic_ns()
        try:
            address, ints = parse(data)
        except (ValueError, struct.error):
            continue
        if address == "/nextbeat/out/note" and len(ints) >= 2 and ints[1] > 0:
            events.append((stamp, "on"))
        elif address == "/nextbeat/beat":
            events.append((stamp, "beat"))


for velocity in (90, 0):
    send.sendto(message("/nextbeat/note", "ii", 60, velocity), ("127.0.0.1", osc_port))
start = time.monotonic()
listen_until(start + 4)
ons = [t for t, kind in events if kind == "on" and t > (start + 1) * 1e9]
before_max = max((sum(1 for u in ons if t <= u < t + 100_000_000) for t in ons), default=0)
# Stopped 50 ms before a beat, when its notes are already planned and wait
# in the output thread's timetable (latency_budget_ms = 100): the notes a
# stop leaves due. A beat at 240 bpm is 250 ms.
events.clear()
while not any(kind == "beat" for _, kind in events):
    listen_until(time.monotonic() + 0.01)
time.sleep(0.2)
os.kill(pid, signal.SIGSTOP)
time.sleep(stop_s)
# Anything still in the socket came before the stop.
listen_until(time.monotonic() + 0.01)
events.clear()
cont = time.monotonic_ns()
os.kill(pid, signal.SIGCONT)
listen_until(time.monotonic() + 4)
# A burst is what the stop left behind: note-ons before the first beat that
# comes after SIGCONT. The probe's own sleeps can land SIGCONT nearer a beat
# than planned on a busy host; that beat's notes are fresh, not stale. (A
# beat within 20 ms of SIGCONT would be part of a burst itself: not counted
# as the first.)
first_beat = min((t for t, kind in events if kind == "beat" and t > cont + 20_000_000), default=cont + 100_000_000)
after = [t for t, kind in events if kind == "on" and t < min(cont + 100_000_000, first_beat)]
beats_after = sum(1 for t, kind in events if kind == "beat")
notes_after = sum(1 for t, kind in events if kind == "on")
print(f"before_max_100ms={before_max} after_cont_100ms={len(after)} beats_after={beats_after} notes_after={notes_after}")
