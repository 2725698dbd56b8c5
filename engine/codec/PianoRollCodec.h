// The `pianoroll` codec: one multi-hot frame of the 88 piano keys per grid step
// (steps_per_beat frames per quarter note), as in the published JSB / Nottingham
// / MuseData / Piano-midi.de benchmarks.
#pragma once

#include <string>

#include "engine/codec/Codec.h"

namespace nextbeat::engine {

// Encoding: a note covers the frames round(start * spb) .. round(end * spb) - 1,
// at least one frame (frames past 2^22 are clamped: a broken file); pitches outside 21..108 are dropped, drums too
// unless include_drums. One Step per frame from frame 0 to the last note's end, silent frames included. beat_tick =
// frame % steps_per_beat, bar_beat from the time signatures (see GridPosition in Grid.h); source = the highest
// source of the notes sounding in the frame (0 when silent).
//
// Decoding: each run of consecutive frames with a key on is one note, velocity
// kPianoRollVelocity, source from the run's first frame. Held and repeated
// notes look the same in a frame, so a repeat within a run is lost.
class PianoRollCodec final : public Codec {
 public:
  static constexpr int kPianoRollVelocity = 80;

  // Throws std::invalid_argument unless steps_per_beat is 1..960.
  explicit PianoRollCodec(const CodecSettings& settings);

  const CodecSettings& settings() const override { return settings_; }
  int input_size() const override { return kKeys; }
  EncodedSequence encode(const Score& score) const override;
  Score decode(const EncodedSequence& sequence) const override;
  EncodedSequence transpose(const EncodedSequence& sequence, int semitones) const override;
  // The sounding keys as MIDI pitches: "{60 64 67}" ("{}" when silent).
  std::string describe(const Step& step) const override;

 private:
  CodecSettings settings_;
};

// Sets beat_tick and bar_beat of every step from its index, for piano-roll data
// that carries no meter: steps_per_beat frames per beat, 4 beats per bar.
void set_frame_positions(EncodedSequence& sequence, int steps_per_beat);

}  // namespace nextbeat::engine
