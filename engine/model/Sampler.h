// Turns the model's logits into the next token (events) or frame (pianoroll)
// under the performer's controls: temperature, top-k, top-p, key + scale,
// pitch range, repetition penalty and density. Plain C++ (no LibTorch).
//
// Real-time contract: sample_token, sample_frame and note_played are
// real-time safe (no allocation, no locks); all scratch space is allocated
// by the constructor and set_controls, which run off the real-time path.
// called on: the engine thread (live) or one offline thread.
#pragma once

#include <array>
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
  double repetition_penalty = 1.0;  // >= 1: the pitches of the last notes become less likely
  double density = 1.0;             // odds of a note (NOTE_ON or key on) multiplied by this; 0 = silence
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
  // Remembers a pitch for the repetition penalty (done by sample_* for notes they pick).
  void note_played(int pitch) noexcept;

 private:
  static constexpr std::size_t kHistory = 16;  // notes the repetition penalty looks back on

  double uniform() noexcept { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  bool recently_played(int pitch) const noexcept;

  CodecSettings codec_;
  EventLayout layout_;
  SamplingControls controls_;
  PitchSet allowed_;  // key, scale and pitch range together
  std::mt19937_64 rng_;
  std::vector<double> scratch_;        // probabilities, one per output
  std::vector<int> order_;             // indices sorted by probability
  std::array<int, kHistory> history_;  // ring of recent pitches (-1 = empty)
  std::size_t history_at_ = 0;
};

}  // namespace nextbeat::engine
