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
import time

import rtmidi

_print_lock = threading.Lock()

# libjack (jackd 1.9.21) now and then cannot open a client on a server that
# has just answered jack_wait ("JACK server not running?"); it can a moment
# later. A server that is really gone still fails after these tries.
_OPEN_TRIES = 10
_OPEN_WAIT_S = 0.3


def say(line):
    # The receive callback runs on JACK's thread; one whole line at a time.
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def open_client(kind, client):
    for attempt in range(1, _OPEN_TRIES + 1):
        try:
            return kind(rtapi=rtmidi.API_UNIX_JACK, name=client)
        except rtmidi.RtMidiError as error:
            if attempt == _OPEN_TRIES:
                raise
            sys.stderr.write("midi_peer.py: cannot open JACK client %s yet (%s); trying again\n" % (client, error))
            time.sleep(_OPEN_WAIT_S)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("send", "receive"):
        sys.stderr.write(__doc__)
        return 2
    mode, client, port = sys.argv[1:]
    midi = open_client(rtmidi.MidiOut if mode == "send" else rtmidi.MidiIn, client)
    if mode == "receive":
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
