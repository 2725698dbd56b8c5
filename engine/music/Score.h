// Music as notes in beats: what MIDI files, ABC tunes and the live input all
// become, and what the codecs encode. Plain C++ (no LibTorch, no devices), so
// every folder may include it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nextbeat::engine {

constexpr int kDrumChannel = 9;  // MIDI channel 10, counted from 0

struct Note {
  int pitch = 60;           // 0..127
  int velocity = 64;        // 1..127
  int channel = 0;          // 0..15
  int track = 0;            // track index in the source file
  double start_beat = 0;    // quarter-note beats from the start of the file
  double end_beat = 0;      // > start_beat
  std::uint8_t source = 0;  // 0 = performer, 1 = nextbeat itself (live), or the track's role in training
  bool is_drum() const { return channel == kDrumChannel; }
  bool operator==(const Note&) const = default;
};

struct TempoChange {
  double beat = 0;
  double bpm = 120;
  bool operator==(const TempoChange&) const = default;
};

struct TimeSignature {
  double beat = 0;
  int numerator = 4;
  int denominator = 4;
  bool operator==(const TimeSignature&) const = default;
};

struct Score {
  std::vector<Note> notes;                     // sorted by start_beat, then pitch
  std::vector<TempoChange> tempo_map;          // starts at beat 0 (120 bpm when the file has none)
  std::vector<TimeSignature> time_signatures;  // starts at beat 0 (4/4 when the file has none)
  std::vector<std::string> track_names;        // by Note::track ("" when unnamed; may be shorter than the tracks)
  int ticks_per_beat = 480;                    // resolution of the source file (PPQ)
  std::string source;                          // file path (or a description), for messages

  // The last note's end, in beats (0 for an empty score).
  double end_beat() const;
  // Sorts notes by (start_beat, pitch, channel); call after editing notes.
  void sort_notes();
  // Seconds from the start at `beat`, through the tempo map (120 bpm without one).
  double seconds_at(double beat) const;
};

}  // namespace nextbeat::engine
