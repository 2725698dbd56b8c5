// Listening to harmony: the performer's key and the sounding chord, from what
// they played (sampling.key = "auto", sampling.chord_follow, [midi] split_note).
//
// - PitchClassWindow: a duration-weighted pitch-class histogram with
//   exponential decay. A held note adds its weight per beat it sounds; an
//   onset adds a short impulse (so that staccato notes count too); everything
//   decays with a half-life in beats, so the window is "the last few beats".
// - KeyFinder: Krumhansl–Schmuckler on that window: the Pearson correlation
//   of the histogram with the 24 Krumhansl–Kessler (1982) major and minor
//   profiles (MusicTheory.h key_correlation), half-life 8 beats. Hysteresis:
//   a new key must beat the current one's correlation by `margin` at
//   `confirm` consecutive beat evaluations, so one stray note never flips it.
// - ChordFinder: the same window with a half-life of one beat (the current
//   beat and the one before), matched against the 24 major and minor triads
//   (root and fifth count more than nothing, notes outside the triad count
//   against it); triads of the key win ties and a small bonus.
// - harmony_bias: what the sampler adds to a note's logit, by pitch class, in
//   nats: + weight for chord tones, - weight for a clash with a sounding
//   performer note (a semitone either side or a tritone: a minor 2nd, a
//   major 7th or a tritone against it).
//
// Real-time contract: everything here is fixed-size arrays; after
// construction nothing allocates, locks, logs or throws. Engine thread only.
#pragma once

#include <array>
#include <bitset>
#include <optional>

#include "engine/music/MusicTheory.h"

namespace nextbeat::engine {

class PitchClassWindow {
 public:
  explicit PitchClassWindow(double half_life_beats) noexcept : half_life_(half_life_beats) {}
  // Empties the window; `beat` is where time starts again.
  void reset(double beat) noexcept;
  // A note starts (weight: how much this note counts, e.g. more on a strong
  // beat, or for a chord hint) / ends. Pitches outside 0..127 are ignored.
  void note_on(int pitch, double beat, double weight) noexcept;
  void note_off(int pitch, double beat) noexcept;
  // Ends every note (the performer let go of everything, a reset).
  void release_all(double beat) noexcept;
  // Moves time on to `beat`: decays, and adds the held notes' durations.
  // A beat earlier than the last one is taken as the last one.
  void advance(double beat) noexcept;
  const PitchClassHistogram& histogram() const noexcept { return histogram_; }
  double total() const noexcept;
  // Weight of an onset, in beats of a held note.
  static constexpr double kOnsetBeats = 0.25;

 private:
  double half_life_;
  double last_beat_ = 0;
  PitchClassHistogram histogram_{};
  std::array<double, 128> held_{};  // the weight of each held pitch; 0 = not held
};

struct DetectedKey {
  int tonic = 0;  // pitch class, C = 0
  bool minor = false;
  bool operator==(const DetectedKey&) const = default;
};

class KeyFinder {
 public:
  struct Options {
    double half_life_beats = 8.0;  // the window: notes from 8 beats ago count half
    double margin = 0.05;          // a new key must correlate this much better than the current one
    int confirm = 2;               // ... at this many consecutive evaluations
    double min_weight = 1.0;       // beats of notes heard before a first estimate
  };
  KeyFinder() noexcept : KeyFinder(Options{}) {}
  explicit KeyFinder(const Options& options) noexcept : options_(options), window_(options.half_life_beats) {}

  void reset(double beat) noexcept;
  PitchClassWindow& window() noexcept { return window_; }
  const PitchClassWindow& window() const noexcept { return window_; }
  // Once a beat: advances the window to `beat` and re-estimates. True when
  // the key in force changed (a first estimate included).
  bool evaluate(double beat) noexcept;
  std::optional<DetectedKey> key() const noexcept { return key_; }

 private:
  Options options_;
  PitchClassWindow window_;
  std::optional<DetectedKey> key_;
  std::optional<DetectedKey> candidate_;
  int candidate_count_ = 0;
};

// A triad: root pitch class and quality.
struct Chord {
  int root = 0;
  bool minor = false;
  PitchClassSet tones() const noexcept;
  bool operator==(const Chord&) const = default;
};

// The pitch classes of a detected key's scale: major, or natural minor with
// the raised 7th (harmonic minor's leading tone) added, as minor-key tunes
// use both.
PitchClassSet key_pitch_classes(const DetectedKey& key) noexcept;

class ChordFinder {
 public:
  static constexpr double kHalfLifeBeats = 1.0;
  ChordFinder() noexcept : window_(kHalfLifeBeats) {}
  void reset(double beat) noexcept { window_.reset(beat); }
  PitchClassWindow& window() noexcept { return window_; }
  // The triad that best explains the window at `beat` (advancing it there);
  // `key` (if any) prefers its own triads. nullopt when the window is
  // (nearly) empty.
  std::optional<Chord> estimate(double beat, const std::optional<DetectedKey>& key) noexcept;

 private:
  PitchClassWindow window_;
};

// The triad among the 24 major and minor triads that best matches the
// histogram (see ChordFinder); nullopt for a histogram under `min_total`.
std::optional<Chord> best_triad(const PitchClassHistogram& histogram, const std::optional<DetectedKey>& key,
                                double min_total = 0.2) noexcept;

// The pitch classes that clash (minor 2nd, tritone, major 7th) with any of
// the `sounding` ones.
PitchClassSet clashing_classes(const PitchClassSet& sounding) noexcept;

// Per pitch class, in nats: + weight for the chord's tones, - weight for a
// pitch class that clashes (minor 2nd, tritone, major 7th) with any of the
// `sounding` performer pitch classes. A note both in the chord and clashing
// gets both.
std::array<float, kPitchClasses> harmony_bias(const std::optional<Chord>& chord, const PitchClassSet& sounding,
                                              double weight) noexcept;

}  // namespace nextbeat::engine
