// Turns the model's logits into the next token (events) or frame (pianoroll)
// under the performer's controls: temperature, top-k, top-p, key + scale,
// pitch range, repetition penalty and density. Plain C++ (no LibTorch).
//
// Density is notes per beat relative to the model's own rate. It does not
// bend the model's probabilities (a confident model shrugged that off: 0.25
// and 2 gave 109 and 119 notes against 108): the rollouts (EventRollout.h,
// FrameRollout.h) let the model play its part at its own rate and ask the
// sampler about each note it starts (onset_sounds): below 1 a note sounds
// with probability `density` (the model still hears it, so it keeps its own
// rate and the sounding rate is density times it); above 1 each note banks
// density - 1 extra notes, which the rollout asks the model for at the next
// gap (extra_note_due, sample_note, sample_extra_key).
//
// Real-time contract: sample_token, sample_frame, note_played and the density calls are
// real-time safe (no allocation, no locks); all scratch space is allocated
// by the constructor and set_controls, which run off the real-time path.
// called on: the engine thread (live) or one offline thread.
#pragma once

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "engine/codec/Codec.h"
#include "engine/codec/EventCodec.h"
#include "engine/music/MusicTheory.h"

namespace nextbeat::engine {

struct SamplingControls {
  double temperature = 1.0;  // > 0; < 1 sharper, > 1 flatter
  int top_k = 0;             // events: the k most likely tokens; pianoroll: at most k keys per frame; 0 = off
  double top_p = 1.0;        // events: the smallest set of tokens holding this much probability
  std::optional<int> key;    // pitch class of the key (C = 0); none = no constraint
  ScaleKind scale = ScaleKind::kMajor;
  // Absolute pitch classes (bit 0 = C) allowed besides the key's scale, when
  // there is a key (sampling.key = "auto" in a minor key: the leading tone).
  PitchClassSet also_allowed;
  double repetition_penalty = 1.0;  // >= 1: the pitches of the last notes become less likely
  double density = 1.0;             // notes per beat, times the model's own rate; 0 = silence (see above)
  int pitch_min = 21;
  int pitch_max = 108;
  std::uint64_t seed = 0;  // 0 = from the clock
};

class Sampler {
 public:
  Sampler(const CodecSettings& codec, const SamplingControls& controls);
  // Sets the controls and reseeds the generator (from controls.seed, or the clock).
  void set_controls(const SamplingControls& controls);
  // Sets the controls but keeps the generator and the note history: a live
  // control change must not restart the random sequence.
  // real-time safe: no allocation, no locks.
  void adjust(const SamplingControls& controls) noexcept;
  const SamplingControls& controls() const noexcept { return controls_; }

  // events. allow_notes = false leaves only SHIFT and NOTE_OFF (used to move
  // time on when a beat is overfull).
  int sample_token(std::span<const float> logits, bool allow_notes = true) noexcept;
  // pianoroll; nade is empty for a sigmoid head.
  Frame sample_frame(std::span<const float> logits, std::span<const float> nade) noexcept;
  // A soft bias added to every note's log-probability by its pitch class, in
  // nats (chord following: engine/music/KeyFinder.h harmony_bias); kept by
  // adjust and set_controls, all zero at construction.
  // real-time safe: no allocation, no locks.
  // The bias chooses which note, not whether to play: it moves probability
  // between NOTE_ON tokens, and together they keep what the model gave them.
  void set_pitch_class_bias(const std::array<float, kPitchClasses>& bias) noexcept;
  // Whether the key, scale and pitch range allow `pitch` (0..127).
  bool allows(int pitch) const noexcept {
    return pitch >= 0 && pitch < 128 && allowed_[static_cast<std::size_t>(pitch)];
  }
  const std::array<float, kPitchClasses>& pitch_class_bias() const noexcept { return bias_; }
  // Remembers a pitch for the repetition penalty (done by sample_* for notes they pick).
  void note_played(int pitch) noexcept;

  // Density, asked by the rollouts. real-time safe: no allocation, no locks.
  // A note the model starts of its own accord: whether it sounds (density < 1:
  // with probability density); density > 1 banks density - 1 extra notes.
  bool onset_sounds() noexcept;
  // Whether an extra note is banked; the rollout plays one and says so.
  bool extra_note_due() const noexcept { return extra_notes_ >= 1.0; }
  void extra_note_played() noexcept { extra_notes_ = std::max(0.0, extra_notes_ - 1.0); }
  // events: a NOTE_ON drawn from the logits among the allowed notes alone,
  // none of `excluded` (by pitch; the other controls apply); -1 when none is left.
  int sample_note(std::span<const float> logits, const std::bitset<128>& excluded) noexcept;
  // pianoroll: a key (0..kKeys-1) not in `frame` nor `excluded` (by MIDI
  // pitch), drawn by its probability in the last sample_frame; -1 = none.
  int sample_extra_key(const Frame& frame, const std::bitset<128>& excluded) noexcept;

 private:
  static constexpr std::size_t kHistory = 16;  // notes the repetition penalty looks back on
  // Extra notes banked at most: a model that leaves no gap does not store up a burst.
  static constexpr double kMaxExtraNotes = 8.0;

  enum class TokenFilter { kAny, kNoNotes, kNotesOnly };
  int sample_filtered(std::span<const float> logits, TokenFilter filter,
                      const std::bitset<128>& excluded = {}) noexcept;

  double uniform() noexcept { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  bool recently_played(int pitch) const noexcept;

  CodecSettings codec_;
  EventLayout layout_;
  SamplingControls controls_;
  PitchSet allowed_;                               // key, scale and pitch range together
  std::array<float, kPitchClasses> bias_{};        // nats, by pitch class (set_pitch_class_bias)
  std::array<double, kPitchClasses> bias_factor_;  // exp(bias_)
  std::mt19937_64 rng_;
  std::vector<double> scratch_;        // probabilities, one per output
  std::vector<int> order_;             // indices sorted by probability
  std::array<int, kHistory> history_;  // ring of recent pitches (-1 = empty)
  std::size_t history_at_ = 0;
  double extra_notes_ = 0;  // density > 1: extra notes banked, not yet played
};

}  // namespace nextbeat::engine
