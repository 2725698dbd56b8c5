// Token codecs: one interface, two implementations (events, pianoroll). The
// same code encodes training data and the live input, and decodes what the
// model plays. No LibTorch here: a codec works on plain vectors.
//
// A codec is: a batch half (Codec: encode, decode), a streaming half
// (LiveStream.h: a live note into steps, one beat rolled out) and one row in
// the table in Codec.cpp (its name, grid, step form, input size and
// factories). Code outside engine/codec/ asks these functions, not the kind.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/music/Score.h"

namespace nextbeat::engine {

constexpr int kLowestKey = 21;  // A0: piano-roll frames cover the 88 keys 21..108
constexpr int kKeys = 88;
using Frame = std::bitset<kKeys>;  // bit k = MIDI pitch kLowestKey + k sounds

enum class CodecKind { kEvents, kPianoRoll };

// One model input/output step.
struct Step {
  int token = -1;               // events: the token id; pianoroll: unused (-1)
  Frame frame;                  // pianoroll: the keys sounding in this frame; events: unused
  std::uint16_t beat_tick = 0;  // position in the beat, 0..ticks_per_beat-1 (grid ticks)
  std::uint8_t bar_beat = 0;    // position in the bar: beat index 0..beats_per_bar-1 (max 15)
  std::uint8_t source = 0;      // 0 = performer, 1 = self
  bool operator==(const Step&) const = default;
};

struct EncodedSequence {
  std::vector<Step> steps;
  std::string source;  // where it came from, for messages
};

struct CodecSettings {
  CodecKind kind = CodecKind::kEvents;
  int ticks_per_beat = 12;     // events: grid of SHIFT tokens (12 = sixteenths and eighth triplets)
  int velocity_bins = 32;      // events
  int max_shift_ticks = 96;    // events: the longest single SHIFT (8 beats at 12 ticks)
  int steps_per_beat = 1;      // pianoroll: frames per quarter note (JSB quarter = 1, Nottingham = 2)
  bool include_drums = false;  // drum-channel notes are dropped unless set
  bool operator==(const CodecSettings&) const = default;
};

class Codec {
 public:
  virtual ~Codec() = default;
  virtual const CodecSettings& settings() const = 0;
  // events: the vocabulary size; pianoroll: kKeys.
  virtual int input_size() const = 0;
  // Quantizes to the codec's grid and encodes. Notes outside what the codec
  // can represent (drums unless included; pianoroll: pitches outside 21..108)
  // are dropped.
  virtual EncodedSequence encode(const Score& score) const = 0;
  // Back to notes (tempo 120, 4/4 unless the steps say otherwise).
  virtual Score decode(const EncodedSequence& sequence) const = 0;
  // The sequence moved by `semitones` (data augmentation); empty steps when a
  // note would leave what the codec can represent.
  virtual EncodedSequence transpose(const EncodedSequence& sequence, int semitones) const = 0;
  // Human-readable name of a token (events) for debugging: "NOTE_ON(60)".
  virtual std::string describe(const Step& step) const = 0;
};

std::unique_ptr<Codec> make_codec(const CodecSettings& settings);

// How a step enters the network and what the network predicts: one token of
// a vocabulary (embedded; a softmax head), or a multi-hot frame of the kKeys
// piano keys (projected; a sigmoid or NADE head).
enum class StepForm { kToken, kFrame };

// What the rest of the engine asks about a codec kind instead of branching on
// it; all answered from the one table in Codec.cpp.
// The name in model files and on the command line: "events", "pianoroll".
// A codec setting out of its range: std::invalid_argument naming the codec,
// the setting and the range ("events codec: ticks_per_beat must be 1..960, got 0").
void require_codec_setting(std::string_view codec, std::string_view name, int value, int lo, int hi);

// What a decoder starts from: an empty score at 120 bpm in 4/4 (a codec's
// steps carry no tempo or meter), on the codec's grid.
Score decoded_score_base(int ticks_per_beat, const std::string& source);

std::string_view codec_name(CodecKind kind) noexcept;
std::optional<CodecKind> codec_named(std::string_view name) noexcept;
// Every name, for messages: "events" or "pianoroll".
std::string codec_names();
StepForm step_form(CodecKind kind) noexcept;
// Grid ticks per quarter-note beat: events ticks_per_beat, pianoroll steps_per_beat.
int grid_per_beat(const CodecSettings& settings) noexcept;
// The model's input (and output) size: events the vocabulary, pianoroll kKeys.
int step_input_size(const CodecSettings& settings) noexcept;

}  // namespace nextbeat::engine
