#include "engine/model/Sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

namespace nextbeat::engine {
namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
}

Sampler::Sampler(const CodecSettings& codec, const SamplingControls& controls) : codec_(codec) {
  layout_.velocity_bins = codec.velocity_bins;
  layout_.max_shift_ticks = codec.max_shift_ticks;
  const auto outputs = static_cast<std::size_t>(step_input_size(codec));
  scratch_.resize(outputs);
  order_.resize(outputs);
  bias_factor_.fill(1.0);
  set_controls(controls);
}

void Sampler::set_pitch_class_bias(const std::array<float, kPitchClasses>& bias) noexcept {
  bias_ = bias;
  for (std::size_t pc = 0; pc < kPitchClasses; ++pc) bias_factor_[pc] = std::exp(static_cast<double>(bias[pc]));
}

void Sampler::set_controls(const SamplingControls& controls) {
  adjust(controls);
  const std::uint64_t seed =
      controls.seed != 0 ? controls.seed
                         : static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  rng_.seed(seed);
  history_.fill(-1);
  history_at_ = 0;
  extra_notes_ = 0;
}

void Sampler::adjust(const SamplingControls& controls) noexcept {
  controls_ = controls;
  controls_.temperature = std::max(controls_.temperature, 1e-3);
  controls_.density = std::max(controls_.density, 0.0);
  if (controls_.density <= 1.0) extra_notes_ = 0;  // turned down: nothing banked plays
  allowed_ = controls.key ? allowed_pitches(*controls.key, controls.scale) : PitchSet().set();
  if (controls.key && controls.also_allowed.any())
    for (int p = 0; p < kMidiPitches; ++p)
      if (controls.also_allowed[static_cast<std::size_t>(p % kPitchClasses)]) allowed_.set(static_cast<std::size_t>(p));
  for (int p = 0; p < kMidiPitches; ++p)
    if (p < controls.pitch_min || p > controls.pitch_max) allowed_.reset(static_cast<std::size_t>(p));
}

void Sampler::note_played(int pitch) noexcept {
  history_[history_at_] = pitch;
  history_at_ = (history_at_ + 1) % kHistory;
}

bool Sampler::recently_played(int pitch) const noexcept {
  return std::find(history_.begin(), history_.end(), pitch) != history_.end();
}

bool Sampler::onset_sounds() noexcept {
  const double d = controls_.density;
  if (d < 1.0) return uniform() < d;
  if (d > 1.0) extra_notes_ = std::min(kMaxExtraNotes, extra_notes_ + (d - 1.0));
  return true;
}

int Sampler::sample_token(std::span<const float> logits, bool allow_notes) noexcept {
  return sample_filtered(logits, allow_notes ? TokenFilter::kAny : TokenFilter::kNoNotes);
}

int Sampler::sample_note(std::span<const float> logits, const std::bitset<128>& excluded) noexcept {
  const int token = sample_filtered(logits, TokenFilter::kNotesOnly, excluded);
  return EventLayout::is_note_on(token) ? token : -1;
}

int Sampler::sample_filtered(std::span<const float> logits, TokenFilter filter,
                             const std::bitset<128>& excluded) noexcept {
  const std::size_t n = std::min(logits.size(), scratch_.size());
  const double inv_t = 1.0 / controls_.temperature;
  const bool allow_notes = filter != TokenFilter::kNoNotes;
  double max_logit = kNegInf;
  for (std::size_t i = 0; i < n; ++i) {
    const int id = static_cast<int>(i);
    double l = logits[i];
    if (EventLayout::is_note_on(id)) {
      const int pitch = EventLayout::pitch_of(id);
      if (!allow_notes || !allowed_[static_cast<std::size_t>(pitch)] || excluded[static_cast<std::size_t>(pitch)]) {
        l = kNegInf;
      } else if (controls_.repetition_penalty > 1.0 && recently_played(pitch)) {
        // CTRL-style penalty: shrinks a positive logit, grows a negative one.
        l = l > 0 ? l / controls_.repetition_penalty : l * controls_.repetition_penalty;
      }
    } else if (filter == TokenFilter::kNotesOnly || (!allow_notes && layout_.is_velocity(id))) {
      l = kNegInf;
    }
    scratch_[i] = l * inv_t;
    max_logit = std::max(max_logit, scratch_[i]);
  }
  if (!std::isfinite(max_logit)) return layout_.shift_token(1);  // everything masked: let time pass
  // The harmony bias (nats of the final distribution, after the temperature)
  // reshapes the NOTE_ONs among themselves; scaled back to the mass the model
  // gave them, it does not make a note more likely than a SHIFT.
  double total = 0;
  double notes_before = 0;
  double notes_after = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double p = std::exp(scratch_[i] - max_logit);
    if (EventLayout::is_note_on(static_cast<int>(i))) {
      notes_before += p;
      p *= bias_factor_[static_cast<std::size_t>(EventLayout::pitch_of(static_cast<int>(i)) % kPitchClasses)];
      notes_after += p;
    }
    scratch_[i] = p;
    total += p;
  }
  if (notes_after > 0 && notes_after != notes_before) {
    const double scale = notes_before / notes_after;
    for (std::size_t i = 0; i < n && EventLayout::is_note_on(static_cast<int>(i)); ++i) scratch_[i] *= scale;
    total += notes_before - notes_after;
  }
  // top-k and top-p work on tokens ordered by probability.
  std::size_t keep = n;
  if (controls_.top_k > 0 || controls_.top_p < 1.0) {
    std::iota(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(n), 0);
    std::sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(n), [&](int a, int b) {
      return scratch_[static_cast<std::size_t>(a)] > scratch_[static_cast<std::size_t>(b)];
    });
    if (controls_.top_k > 0) keep = std::min(keep, static_cast<std::size_t>(controls_.top_k));
    if (controls_.top_p < 1.0) {
      double cumulative = 0;
      for (std::size_t i = 0; i < keep; ++i) {
        cumulative += scratch_[static_cast<std::size_t>(order_[i])] / total;
        if (cumulative >= controls_.top_p) {
          keep = i + 1;
          break;
        }
      }
    }
    double kept_total = 0;
    for (std::size_t i = 0; i < keep; ++i) kept_total += scratch_[static_cast<std::size_t>(order_[i])];
    double u = uniform() * kept_total;
    int chosen = order_[keep - 1];
    for (std::size_t i = 0; i < keep; ++i) {
      u -= scratch_[static_cast<std::size_t>(order_[i])];
      if (u <= 0) {
        chosen = order_[i];
        break;
      }
    }
    if (EventLayout::is_note_on(chosen)) note_played(EventLayout::pitch_of(chosen));
    return chosen;
  }
  double u = uniform() * total;
  int chosen = static_cast<int>(n) - 1;
  for (std::size_t i = 0; i < n; ++i) {
    u -= scratch_[i];
    if (u <= 0) {
      chosen = static_cast<int>(i);
      break;
    }
  }
  if (EventLayout::is_note_on(chosen)) note_played(EventLayout::pitch_of(chosen));
  return chosen;
}

Frame Sampler::sample_frame(std::span<const float> logits, std::span<const float> nade) noexcept {
  Frame frame;
  const double inv_t = 1.0 / controls_.temperature;
  const bool with_nade = nade.size() == static_cast<std::size_t>(kKeys) * kKeys;
  for (std::size_t k = 0; k < kKeys && k < logits.size(); ++k) {
    const int pitch = kLowestKey + static_cast<int>(k);
    double l = logits[k];
    // NADE: key k's logit also depends on the keys below it already decided.
    if (with_nade)
      for (std::size_t j = 0; j < k; ++j)
        if (frame[j]) l += nade[k * kKeys + j];
    scratch_[k] = 0;
    if (!allowed_[static_cast<std::size_t>(pitch)]) continue;
    if (controls_.repetition_penalty > 1.0 && recently_played(pitch))
      l = l > 0 ? l / controls_.repetition_penalty : l * controls_.repetition_penalty;
    // The harmony bias: nats on the key's log-odds, after the temperature.
    const double p = 1.0 / (1.0 + std::exp(-(l * inv_t + bias_[static_cast<std::size_t>(pitch % kPitchClasses)])));
    scratch_[k] = p;
    if (uniform() < p) frame.set(k);
  }
  // top-k: at most k keys, the most likely of those chosen.
  if (controls_.top_k > 0 && static_cast<int>(frame.count()) > controls_.top_k) {
    std::size_t on = 0;
    for (std::size_t k = 0; k < kKeys; ++k)
      if (frame[k]) order_[on++] = static_cast<int>(k);
    std::sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(on), [&](int a, int b) {
      return scratch_[static_cast<std::size_t>(a)] > scratch_[static_cast<std::size_t>(b)];
    });
    for (std::size_t i = static_cast<std::size_t>(controls_.top_k); i < on; ++i)
      frame.reset(static_cast<std::size_t>(order_[i]));
  }
  for (std::size_t k = 0; k < kKeys; ++k)
    if (frame[k]) note_played(kLowestKey + static_cast<int>(k));
  return frame;
}

int Sampler::sample_extra_key(const Frame& frame, const std::bitset<128>& excluded) noexcept {
  if (controls_.top_k > 0 && static_cast<int>(frame.count()) >= controls_.top_k) return -1;
  // scratch_ holds each allowed key's probability from the last sample_frame (0 otherwise).
  const auto candidate = [&](std::size_t k) {
    return !frame[k] && !excluded[static_cast<std::size_t>(kLowestKey) + k] ? scratch_[k] : 0.0;
  };
  double total = 0;
  for (std::size_t k = 0; k < kKeys; ++k) total += candidate(k);
  if (!(total > 0)) return -1;
  double u = uniform() * total;
  int chosen = -1;
  for (std::size_t k = 0; k < kKeys; ++k) {
    const double p = candidate(k);
    if (p <= 0) continue;
    chosen = static_cast<int>(k);
    u -= p;
    if (u <= 0) break;
  }
  if (chosen >= 0) note_played(kLowestKey + chosen);
  return chosen;
}

}  // namespace nextbeat::engine
