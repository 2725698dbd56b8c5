#!/usr/bin/python3
"""midi_peer.py send|receive CLIENT PORT

A JACK MIDI client for nextbeat's io tests (python3-rtmidi, JACK API). It
opens a virtual port PORT under the client CLIENT ("CLIENT:PORT" in JACK),
prints "ready" once the port exists, and then:

  send     reads lines of hex bytes from stdin ("90 3c 64") and sends each as
           one MIDI message from its output port, answering "sent";
  receive  prints each MIDI message that reaches its input port as a line of
           hex bytes ("90 3c 64"), timing messages included.

"quit" or the end of stdin closes the port and the JACK client cleanly (a
client that dies without closing costs jackd seconds of timeouts) and prints
"bye". Must run under /usr/bin/python3: that is where Debian's python3-rtmidi
is installed.
"""
import sys
import threading

import rtmidi

_print_lock = threading.Lock()


def say(line):
    # The receive callback runs on JACK's thread; one whole line at a time.
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("send", "receive"):
        sys.stderr.write(__doc__)
        return 2
    mode, client, port = sys.argv[1:]
    if mode == "send":
        midi = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=client)
    else:
        midi = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=client)
        midi.ignore_types(sysex=True, timing=False, active_sense=True)
        midi.set_callback(lambda event, _: say(" ".join("%02x" % byte for byte in event[0])))
    midi.open_virtual_port(port)
    say("ready")
    for line in sys.stdin:
        words = line.split()
        if words == ["quit"]:
            break
        if mode == "send" and words:
            midi.send_message([int(word, 16) for word in words])
            say("sent")
    midi.close_port()
    midi.delete()
    say("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
