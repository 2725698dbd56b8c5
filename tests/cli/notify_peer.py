"""A fake systemd notify socket: binds a datagram socket at PATH and writes each
message it receives to stdout as one line, "<seconds since start> <message>"
(newlines inside a message become '|'). Stops after SECONDS."""
import socket
import sys
import time

path, seconds = sys.argv[1], float(sys.argv[2])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
start = time.monotonic()
sock.settimeout(0.1)
while time.monotonic() - start < seconds:
    try:
        data = sock.recv(4096)
    except socket.timeout:
        continue
    print(f"{time.monotonic() - start:.3f} {data.decode(errors='replace').replace(chr(10), '|')}", flush=True)
