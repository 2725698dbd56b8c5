#include "engine/music/KeyFinder.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace nextbeat::engine {
namespace {

std::size_t pc_of(int pitch) noexcept {
  return static_cast<std::size_t>(((pitch % kPitchClasses) + kPitchClasses) % kPitchClasses);
}

}  // namespace

// ---- PitchClassWindow -------------------------------------------------------------

void PitchClassWindow::reset(double beat) noexcept {
  histogram_.fill(0);
  held_.fill(0);
  last_beat_ = beat;
}

void PitchClassWindow::advance(double beat) noexcept {
  const double dt = beat - last_beat_;
  if (!(dt > 0)) return;
  last_beat_ = beat;
  const double keep = std::exp2(-dt / half_life_);
  for (double& h : histogram_) h *= keep;
  // A held note's weight over [beat - dt, beat], decayed to `beat`: the
  // integral of w * 2^(-(beat - t) / half_life) dt.
  const double held_beats = half_life_ / std::numbers::ln2 * (1.0 - keep);
  for (int p = 0; p < 128; ++p)
    if (held_[static_cast<std::size_t>(p)] > 0) histogram_[pc_of(p)] += held_[static_cast<std::size_t>(p)] * held_beats;
}

void PitchClassWindow::note_on(int pitch, double beat, double weight) noexcept {
  if (pitch < 0 || pitch > 127 || !(weight > 0)) return;
  advance(beat);
  held_[static_cast<std::size_t>(pitch)] = weight;
  histogram_[pc_of(pitch)] += weight * kOnsetBeats;
}

void PitchClassWindow::note_off(int pitch, double beat) noexcept {
  if (pitch < 0 || pitch > 127) return;
  advance(beat);
  held_[static_cast<std::size_t>(pitch)] = 0;
}

void PitchClassWindow::release_all(double beat) noexcept {
  advance(beat);
  held_.fill(0);
}

double PitchClassWindow::total() const noexcept {
  double t = 0;
  for (double h : histogram_) t += h;
  return t;
}

// ---- KeyFinder ----------------------------------------------------------------------

void KeyFinder::reset(double beat) noexcept {
  window_.reset(beat);
  key_.reset();
  candidate_.reset();
  candidate_count_ = 0;
}

bool KeyFinder::evaluate(double beat) noexcept {
  window_.advance(beat);
  if (window_.total() < options_.min_weight) return false;
  const PitchClassHistogram& h = window_.histogram();
  DetectedKey best;
  double best_r = -2;
  for (bool minor : {false, true}) {
    for (int tonic = 0; tonic < kPitchClasses; ++tonic) {
      const double r = key_correlation(h, tonic, minor ? ScaleKind::kMinor : ScaleKind::kMajor);
      if (!std::isfinite(r)) return false;  // no variance (one class, or all equal): nothing to tell
      if (r > best_r) {
        best_r = r;
        best = DetectedKey{tonic, minor};
      }
    }
  }
  if (!key_) {
    key_ = best;
    return true;
  }
  if (best == *key_) {
    candidate_.reset();
    candidate_count_ = 0;
    return false;
  }
  const double current_r = key_correlation(h, key_->tonic, key_->minor ? ScaleKind::kMinor : ScaleKind::kMajor);
  if (best_r - current_r < options_.margin) {
    candidate_.reset();
    candidate_count_ = 0;
    return false;
  }
  if (candidate_ == best) {
    ++candidate_count_;
  } else {
    candidate_ = best;
    candidate_count_ = 1;
  }
  if (candidate_count_ < options_.confirm) return false;
  key_ = best;
  candidate_.reset();
  candidate_count_ = 0;
  return true;
}

// ---- Chords -------------------------------------------------------------------------

PitchClassSet Chord::tones() const noexcept {
  PitchClassSet set;
  set.set(pc_of(root));
  set.set(pc_of(root + (minor ? 3 : 4)));
  set.set(pc_of(root + 7));
  return set;
}

PitchClassSet key_pitch_classes(const DetectedKey& key) noexcept {
  PitchClassSet set = scale_pitch_classes(key.tonic, key.minor ? ScaleKind::kMinor : ScaleKind::kMajor);
  if (key.minor) set.set(pc_of(key.tonic + 11));  // the leading tone (harmonic minor)
  return set;
}

std::optional<Chord> best_triad(const PitchClassHistogram& h, const std::optional<DetectedKey>& key,
                                double min_total) noexcept {
  double total = 0;
  for (double x : h) total += x;
  if (!(total >= min_total)) return std::nullopt;
  const PitchClassSet scale = key ? key_pitch_classes(*key) : PitchClassSet().set();
  std::optional<Chord> best;
  double best_score = -1e300;
  // Triads of the key first, the tonic's first: ties go to them.
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < kPitchClasses; ++i) {
      const int root = (key ? key->tonic : 0) + i;
      for (bool minor : {false, true}) {
        const Chord chord{static_cast<int>(pc_of(root)), minor};
        const PitchClassSet tones = chord.tones();
        const bool diatonic = (tones & ~scale).none();
        if (diatonic != (pass == 0)) continue;
        // Root and third tell triads apart (C-E is C major more than A minor);
        // notes outside the triad count against it.
        const double in = h[pc_of(root)] + 0.8 * h[pc_of(root + (minor ? 3 : 4))] + 0.8 * h[pc_of(root + 7)];
        double out = 0;
        for (std::size_t pc = 0; pc < kPitchClasses; ++pc)
          if (!tones[pc]) out += h[pc];
        const double score = in - 0.5 * out + (key && diatonic ? 0.1 * total : 0.0);
        if (score > best_score + 1e-12) {
          best_score = score;
          best = chord;
        }
      }
    }
  }
  return best;
}

std::optional<Chord> ChordFinder::estimate(double beat, const std::optional<DetectedKey>& key) noexcept {
  window_.advance(beat);
  return best_triad(window_.histogram(), key);
}

PitchClassSet clashing_classes(const PitchClassSet& sounding) noexcept {
  PitchClassSet clashes;
  for (int m = 0; m < kPitchClasses; ++m) {
    if (!sounding[static_cast<std::size_t>(m)]) continue;
    for (int interval : {1, 6, 11}) clashes.set(pc_of(m + interval));
  }
  return clashes;
}

std::array<float, kPitchClasses> harmony_bias(const std::optional<Chord>& chord, const PitchClassSet& sounding,
                                              double weight) noexcept {
  std::array<float, kPitchClasses> bias{};
  if (!(weight > 0)) return bias;
  const auto w = static_cast<float>(weight);
  if (chord) {
    const PitchClassSet tones = chord->tones();
    for (std::size_t pc = 0; pc < kPitchClasses; ++pc)
      if (tones[pc]) bias[pc] += w;
  }
  const PitchClassSet clashes = clashing_classes(sounding);  // once per class, however many notes it clashes with
  for (std::size_t pc = 0; pc < kPitchClasses; ++pc)
    if (clashes[pc]) bias[pc] -= w;
  return bias;
}

}  // namespace nextbeat::engine
