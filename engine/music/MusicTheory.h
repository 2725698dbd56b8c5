// Keys and scales as pitch-class sets, and a key estimator. Used by the
// sampler's key + scale constraint and by the generation metrics. Plain C++.
#pragma once

#include <array>
#include <bitset>
#include <optional>
#include <string_view>

namespace nextbeat::engine {

constexpr int kPitchClasses = 12;
constexpr int kMidiPitches = 128;

// The engine's own scale list; config::Scale names the same scales in the same
// order, and the daemon maps one onto the other.
enum class ScaleKind { kMajor, kMinor, kDorian, kMixolydian, kPentatonic, kBlues, kChromatic };

// Bit i set = the pitch class i semitones above the tonic (or above C, for
// absolute sets) belongs to the scale.
using PitchClassSet = std::bitset<kPitchClasses>;
// Bit p set = MIDI pitch p is allowed.
using PitchSet = std::bitset<kMidiPitches>;
// Weight per pitch class, C = 0 .. B = 11; any non-negative scale.
using PitchClassHistogram = std::array<double, kPitchClasses>;

// The scale's degrees relative to its tonic. minor = natural minor (aeolian),
// pentatonic = major pentatonic (1 2 3 5 6), blues = minor blues (1 b3 4 b5 5 b7).
PitchClassSet scale_intervals(ScaleKind scale);
// The scale on a tonic, as absolute pitch classes (bit 0 = C).
PitchClassSet scale_pitch_classes(int key_pc, ScaleKind scale);
// Every MIDI pitch 0..127 whose pitch class is in the scale on key_pc.
PitchSet allowed_pitches(int key_pc, ScaleKind scale);
// Whether MIDI pitch (any int; negative pitch classes wrap) is in the scale on key_pc.
bool in_scale(int pitch, int key_pc, ScaleKind scale);

// "C", "C#", "Db", ... "B" (letter in either case, then any number of '#' or
// 'b'; "Cb" = 11, "E#" = 5). nullopt for anything else, including "".
std::optional<int> pitch_class_of_key(std::string_view name);
// The conventional spelling of a pitch class: C C# D Eb E F F# G Ab A Bb B.
std::string_view key_name(int pitch_class);

// "major", "minor", "dorian", "mixolydian", "pentatonic", "blues", "chromatic".
std::optional<ScaleKind> scale_kind_of_name(std::string_view name);
std::string_view scale_name(ScaleKind scale);

struct KeyEstimate {
  int key_pc = 0;                       // tonic, C = 0
  ScaleKind scale = ScaleKind::kMajor;  // kMajor or kMinor
  double correlation = 0;               // Pearson r with the winning profile, -1..1
};

// Krumhansl–Schmuckler: the major or minor key whose Krumhansl–Kessler profile
// correlates best with the histogram (a tie goes to major, then to the lower
// tonic). nullopt when the histogram has no variance (empty, or all classes
// equal): no key can be told from it.
std::optional<KeyEstimate> estimate_key(const PitchClassHistogram& histogram);
// Pearson r of the histogram with the Krumhansl–Kessler profile of one key
// (mode kMajor or kMinor); NaN when the histogram has no variance.
// real-time safe: no allocation.
double key_correlation(const PitchClassHistogram& histogram, int key_pc, ScaleKind mode) noexcept;

}  // namespace nextbeat::engine
