#!/usr/bin/python3
"""kill_in_write.py PID FILE TIMEOUT_S: once FILE exists (a first checkpoint
was written), waits for the next temporary file of an atomic write of FILE
(".NAME.tmp.PID.*" beside it, engine/util/AtomicFile.cpp) and sends SIGKILL
to PID while that file is there (or while FILE itself is shorter than it was: a
writer that rewrites it in place): a kill in the middle of writing FILE.
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
time.sleep(0.2)
try:
    whole = os.stat(target).st_size
except OSError:
    whole = 0
while time.monotonic() < end:
    try:
        entries = os.listdir(folder)
        size = os.stat(target).st_size
    except OSError:
        continue
    if size < whole:  # rewritten in place (not atomically): caught in the middle too
        os.kill(pid, signal.SIGKILL)
        print(f"caught {size} in place")
        sys.exit(0)
    whole = max(whole, size)
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
