// Offline rendering of notes to a WAV file through FluidSynth: `nextbeat
// generate --wav`, and the audio tests (pitch and onset checks on the file).
// Opens no audio or MIDI device. io cannot see engine types, so the caller
// converts its notes (beats -> seconds through its tempo map) to RenderNote.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace nextbeat::io {

struct RenderNote {
  int pitch = 60;      // 0..127
  int velocity = 100;  // 1..127
  int channel = 0;     // 0..15; 9 plays the GM drum kit
  double start_s = 0;  // >= 0
  double end_s = 0;    // >= start_s; a zero-length note still sounds briefly (synth.min-note-length)
};

struct RenderOptions {
  std::string soundfont = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
  int sample_rate = 48000;  // 8000..96000 Hz
  int program = 0;          // GM program on every channel but 9 (0 = Acoustic Grand Piano)
  double gain = 0.5;        // FluidSynth's master gain, 0..10
  double tail_s = 1.0;      // rendered after the last note ends: release and reverb
};

// Renders the notes to a 16-bit stereo PCM WAV of ceil((last end + tail_s) *
// sample_rate) frames, written atomically (a temporary file in the same
// directory, renamed over `wav`). Note starts and ends land on the FluidSynth
// internal block (64 frames) nearest their frame: FluidSynth starts voices
// only at block boundaries, so starts are within 32 frames (0.67 ms at
// 48 kHz) of their time. Two overlapping notes of one pitch and channel
// behave as on a MIDI synth: the second retriggers, the first end releases.
// Throws std::invalid_argument for bad options or notes (naming the note),
// std::runtime_error for a missing or unreadable soundfont (naming the
// package to install) and for an unwritable output (naming the path and
// errno's text). Not for real-time threads; blocks for the whole render.
void render_wav(const std::vector<RenderNote>& notes, const std::filesystem::path& wav, const RenderOptions& options);

}  // namespace nextbeat::io
