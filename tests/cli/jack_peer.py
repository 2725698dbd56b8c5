#!/usr/bin/python3
"""jack_peer.py: a JACK MIDI performer and recorder for the fault tests.

Opens the virtual output "performer:keys" (nextbeat follows it through
[midi] inputs = ["performer"]) and the virtual input "listener:ears" (nextbeat
plays to it through midi.output = "listener"), appends every message heard to
RECORD as "monotonic_ns b0 b1 b2" lines (flushed at once: the test reads the
file while this runs), and reads commands from stdin:

  play BEATS BPM   quarter notes of a C-major phrase, note-off at 0.8 beat
  clock BEATS BPM  MIDI start (0xFA), then 24 clocks (0xF8) a beat, then
                   silence: no stop, as a sequencer that crashed
  quit             close the clients and exit

It answers "ready" once both ports exist and "done" after each play.
"""
import sys
import threading
import time

import rtmidi

PHRASE = [60, 64, 67, 72, 67, 64, 62, 65]


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    record = open(sys.argv[1], "a", buffering=1)
    lock = threading.Lock()

    def on_message(message, _data):
        stamp = time.monotonic_ns()
        with lock:
            record.write(" ".join([str(stamp)] + [str(b) for b in message[0]]) + "\n")

    keys = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="performer")
    ears = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="listener")
    ears.ignore_types(sysex=True, timing=True, active_sense=True)
    ears.set_callback(on_message)
    keys.open_virtual_port("keys")
    ears.open_virtual_port("ears")
    say("ready")
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "play":
            beats, bpm = int(words[1]), float(words[2])
            beat_s = 60.0 / bpm
            start = time.monotonic()
            for i in range(beats):
                at = start + i * beat_s
                time.sleep(max(0.0, at - time.monotonic()))
                pitch = PHRASE[i % len(PHRASE)]
                keys.send_message([0x90, pitch, 90])
                time.sleep(max(0.0, at + 0.8 * beat_s - time.monotonic()))
                keys.send_message([0x80, pitch, 0])
            say("done")
        elif words[0] == "clock":
            beats, bpm = int(words[1]), float(words[2])
            tick_s = 60.0 / bpm / 24
            keys.send_message([0xFA])
            start = time.monotonic()
            for i in range(beats * 24):
                time.sleep(max(0.0, start + i * tick_s - time.monotonic()))
                keys.send_message([0xF8])
            say("done")
        elif words[0] == "quit":
            break
    ears.cancel_callback()
    ears.close_port()
    keys.close_port()
    del ears, keys
    say("bye")


if __name__ == "__main__":
    main()
