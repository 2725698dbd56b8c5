#!/usr/bin/python3
"""performer.py: a scripted performer and listener for nextbeat on JACK.

Opens a MIDI output port "performer:keys" (nextbeat follows it: [midi]
inputs) and connects its MIDI input to nextbeat's output port (python3-rtmidi, JACK API; Debian installs it for
/usr/bin/python3 only), then reads commands from stdin, one per line:

  play BEATS BPM   quarter notes of a C-major phrase, BEATS of them at BPM
  wait SECONDS     listen only
  mark NAME        note the time NAME (e.g. the moment of a SIGTERM) and answer "marked"
  report FILE      write what was heard, played and marked (JSON) and answer "reported"
  quit             close the clients cleanly and exit

It answers "ready" once connected, and "done" after each play/wait. What it
hears is stamped with time.monotonic_ns() in the rtmidi callback; each
play/wait is reported as a segment [command, start_ns, end_ns], so that the
checks can ask what nextbeat did while the performer played or paused.
"""
import json
import sys
import threading
import time

import rtmidi

PHRASE = [60, 64, 67, 72, 67, 64, 62, 65, 69, 71, 72, 67]


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def find_port(midi, substring, timeout_s=10.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        for i, name in enumerate(midi.get_ports()):
            if substring in name:
                return i, name
        time.sleep(0.1)
    raise SystemExit(f"performer.py: no port matching '{substring}' in {midi.get_ports()}")


def main():
    in_substring, out_substring = sys.argv[1], sys.argv[2]
    heard = []
    lock = threading.Lock()

    def on_message(message, _data):
        stamp = time.monotonic_ns()
        with lock:
            heard.append((stamp, list(message[0])))

    keys = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="performer")
    ears = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="listener")
    ears.ignore_types(sysex=True, timing=False, active_sense=True)
    ears.set_callback(on_message)
    find_port(keys, in_substring)  # nextbeat is up
    keys.open_virtual_port("keys")
    index, name = find_port(ears, out_substring)
    ears.open_port(index, "ears")
    say("ready")
    played = []
    segments = []
    marks = {}
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "play":
            segment_start = time.monotonic_ns()
            beats, bpm = int(words[1]), float(words[2])
            beat_s = 60.0 / bpm
            start = time.monotonic()
            for i in range(beats):
                at = start + i * beat_s
                time.sleep(max(0.0, at - time.monotonic()))
                pitch = PHRASE[i % len(PHRASE)]
                keys.send_message([0x90, pitch, 90])
                played.append((time.monotonic_ns(), pitch))
                time.sleep(max(0.0, at + 0.8 * beat_s - time.monotonic()))
                keys.send_message([0x80, pitch, 0])
            segments.append([line.strip(), segment_start, time.monotonic_ns()])
            say("done")
        elif words[0] == "wait":
            segment_start = time.monotonic_ns()
            time.sleep(float(words[1]))
            segments.append([line.strip(), segment_start, time.monotonic_ns()])
            say("done")
        elif words[0] == "mark":
            marks[words[1]] = time.monotonic_ns()
            say("marked")
        elif words[0] == "report":
            with lock:
                events = list(heard)
            with open(words[1], "w") as f:
                json.dump({"heard": events, "played": played, "segments": segments, "marks": marks}, f)
            say("reported")
        elif words[0] == "quit":
            break
    ears.cancel_callback()
    ears.close_port()
    keys.close_port()
    del ears, keys
    say("bye")


if __name__ == "__main__":
    main()
