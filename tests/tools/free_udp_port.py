#!/usr/bin/python3
"""free_udp_port.py: prints a UDP port P on 127.0.0.1 such that P and P + 1
are both free now (a test's OSC port and reply port). The kernel picks P, so
tests run in parallel under ctest -j do not collide as random picks could."""
import socket

for _ in range(100):
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    port = a.getsockname()[1]
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        b.bind(("127.0.0.1", port + 1))
    except OSError:
        a.close()
        b.close()
        continue
    a.close()
    b.close()
    print(port)
    break
else:
    raise SystemExit("free_udp_port.py: no two adjacent free UDP ports")
