"""Sends an OSC bundle of COUNT copies of one message to 127.0.0.1:PORT, or
BUNDLES of them EVERY_MS apart (environment variables; default one).
Usage: osc_bundle.py PORT COUNT ADDRESS [s:TEXT | i:INT | f:FLOAT]..."""
import socket
import struct
import os
import sys
import time


def pad(data: bytes) -> bytes:
    return data + b"\0" * (4 - len(data) % 4)


def message(address: str, args) -> bytes:
    tags, payload = ",", b""
    for arg in args:
        kind, value = arg.split(":", 1)
        tags += kind
        if kind == "s":
            payload += pad(value.encode())
        elif kind == "i":
            payload += struct.pack(">i", int(value))
        elif kind == "f":
            payload += struct.pack(">f", float(value))
    return pad(address.encode()) + pad(tags.encode()) + payload


port, count, address = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
element = message(address, sys.argv[4:])
bundle = pad(b"#bundle") + struct.pack(">Q", 1)
bundle += (struct.pack(">i", len(element)) + element) * count
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(os.environ.get("BUNDLES", "1"))):
    if i > 0:
        time.sleep(float(os.environ.get("EVERY_MS", "10")) / 1000)
    sock.sendto(bundle, ("127.0.0.1", port))
