#!/usr/bin/python3
"""kill_in_write.py PID FILE TIMEOUT_S: once FILE exists (a first checkpoint
was written), waits for the next temporary file of an atomic write of FILE
(".NAME.tmp.PID.*" beside it, engine/util/AtomicFile.cpp) and sends SIGKILL
to PID while that file is there: a kill in the middle of writing FILE.
Prints "caught SIZE" (the temporary file's size at the kill) or "missed"."""
import os
import signal
import sys
import time

pid, target, timeout = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
folder, name = os.path.split(target)
prefix = f".{name}.tmp.{pid}."
end = time.monotonic() + timeout
while not os.path.exists(target) and time.monotonic() < end:
    time.sleep(0.001)
while time.monotonic() < end:
    try:
        entries = os.listdir(folder)
    except OSError:
        continue
    for entry in entries:
        if entry.startswith(prefix):
            os.kill(pid, signal.SIGKILL)
            try:
                size = os.stat(os.path.join(folder, entry)).st_size
            except OSError:
                size = -1
            print(f"caught {size}")
            sys.exit(0)
    try:
        os.kill(pid, 0)
    except OSError:
        break
print("missed")
