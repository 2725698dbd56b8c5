#!/usr/bin/python3
"""pitch.py WAV HZ: the recording is not silent and its strongest frequency
is HZ within a quarter of a semitone (FluidSynth plays in tune; the FFT of
a 4 s recording resolves 0.25 Hz). Prints the level and the frequency found."""
import sys
import wave

import numpy as np


def main():
    path, expected = sys.argv[1], float(sys.argv[2])
    with wave.open(path) as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    dtype = {2: np.int16, 4: np.int32}[width]
    x = np.frombuffer(raw, dtype=dtype).astype(np.float64) / np.iinfo(dtype).max
    x = x.reshape(-1, channels).mean(axis=1)
    rms = float(np.sqrt(np.mean(x * x))) if len(x) else 0.0
    print(f"{path}: {len(x) / rate:.2f} s, rms {rms:.4f}")
    if rms < 1e-3:
        sys.exit("FAIL: the recording is silent")
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    band = (freqs > 50) & (freqs < 4000)
    peak = float(freqs[band][np.argmax(spectrum[band])])
    semitones = 12 * np.log2(peak / expected)
    print(f"strongest frequency {peak:.1f} Hz (expected {expected:.1f} Hz, {semitones:+.2f} semitones)")
    if abs(semitones) > 0.25:
        sys.exit("FAIL: wrong pitch")


if __name__ == "__main__":
    main()
