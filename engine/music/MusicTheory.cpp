#include "engine/music/MusicTheory.h"

#include <cmath>
#include <string_view>

namespace nextbeat::engine {
namespace {

int wrap_pitch_class(int value) {
  return ((value % kPitchClasses) + kPitchClasses) % kPitchClasses;
}

PitchClassSet set_of(std::initializer_list<int> degrees) {
  PitchClassSet set;
  for (int degree : degrees) set.set(static_cast<std::size_t>(degree));
  return set;
}

// Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
constexpr PitchClassHistogram kMajorProfile = {6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88};
constexpr PitchClassHistogram kMinorProfile = {6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17};

// Pearson correlation of the histogram with the profile rotated to key_pc;
// NaN when either has no variance.
double correlation_with(const PitchClassHistogram& histogram, const PitchClassHistogram& profile, int key_pc) {
  double mean_h = 0, mean_p = 0;
  for (int i = 0; i < kPitchClasses; ++i) {
    mean_h += histogram[static_cast<std::size_t>(i)];
    mean_p += profile[static_cast<std::size_t>(i)];
  }
  mean_h /= kPitchClasses;
  mean_p /= kPitchClasses;
  double cov = 0, var_h = 0, var_p = 0;
  for (int pc = 0; pc < kPitchClasses; ++pc) {
    const double h = histogram[static_cast<std::size_t>(pc)] - mean_h;
    const double p = profile[static_cast<std::size_t>(wrap_pitch_class(pc - key_pc))] - mean_p;
    cov += h * p;
    var_h += h * h;
    var_p += p * p;
  }
  return cov / std::sqrt(var_h * var_p);
}

}  // namespace

PitchClassSet scale_intervals(ScaleKind scale) {
  switch (scale) {
    case ScaleKind::kMajor:
      return set_of({0, 2, 4, 5, 7, 9, 11});
    case ScaleKind::kMinor:
      return set_of({0, 2, 3, 5, 7, 8, 10});
    case ScaleKind::kDorian:
      return set_of({0, 2, 3, 5, 7, 9, 10});
    case ScaleKind::kMixolydian:
      return set_of({0, 2, 4, 5, 7, 9, 10});
    case ScaleKind::kPentatonic:
      return set_of({0, 2, 4, 7, 9});
    case ScaleKind::kBlues:
      return set_of({0, 3, 5, 6, 7, 10});
    case ScaleKind::kChromatic:
      return PitchClassSet{}.set();
  }
  return PitchClassSet{}.set();
}

PitchClassSet scale_pitch_classes(int key_pc, ScaleKind scale) {
  const PitchClassSet intervals = scale_intervals(scale);
  PitchClassSet absolute;
  for (int degree = 0; degree < kPitchClasses; ++degree) {
    if (intervals.test(static_cast<std::size_t>(degree))) {
      absolute.set(static_cast<std::size_t>(wrap_pitch_class(key_pc + degree)));
    }
  }
  return absolute;
}

PitchSet allowed_pitches(int key_pc, ScaleKind scale) {
  const PitchClassSet classes = scale_pitch_classes(key_pc, scale);
  PitchSet pitches;
  for (int pitch = 0; pitch < kMidiPitches; ++pitch) {
    if (classes.test(static_cast<std::size_t>(pitch % kPitchClasses))) pitches.set(static_cast<std::size_t>(pitch));
  }
  return pitches;
}

bool in_scale(int pitch, int key_pc, ScaleKind scale) {
  return scale_intervals(scale).test(static_cast<std::size_t>(wrap_pitch_class(pitch - key_pc)));
}

std::optional<int> pitch_class_of_key(std::string_view name) {
  if (name.empty()) return std::nullopt;
  // Natural pitch classes of A..G.
  constexpr std::array<int, 7> kLetters = {9, 11, 0, 2, 4, 5, 7};
  char letter = name.front();
  if (letter >= 'a' && letter <= 'g') letter = static_cast<char>(letter - 'a' + 'A');
  if (letter < 'A' || letter > 'G') return std::nullopt;
  int pc = kLetters[static_cast<std::size_t>(letter - 'A')];
  for (char accidental : name.substr(1)) {
    if (accidental == '#') {
      ++pc;
    } else if (accidental == 'b') {
      --pc;
    } else {
      return std::nullopt;
    }
  }
  return wrap_pitch_class(pc);
}

std::string_view key_name(int pitch_class) {
  constexpr std::array<std::string_view, kPitchClasses> kNames = {"C",  "C#", "D",  "Eb", "E",  "F",
                                                                  "F#", "G",  "Ab", "A",  "Bb", "B"};
  return kNames[static_cast<std::size_t>(wrap_pitch_class(pitch_class))];
}

std::optional<ScaleKind> scale_kind_of_name(std::string_view name) {
  for (ScaleKind scale : {ScaleKind::kMajor, ScaleKind::kMinor, ScaleKind::kDorian, ScaleKind::kMixolydian,
                          ScaleKind::kPentatonic, ScaleKind::kBlues, ScaleKind::kChromatic}) {
    if (scale_name(scale) == name) return scale;
  }
  return std::nullopt;
}

std::string_view scale_name(ScaleKind scale) {
  switch (scale) {
    case ScaleKind::kMajor:
      return "major";
    case ScaleKind::kMinor:
      return "minor";
    case ScaleKind::kDorian:
      return "dorian";
    case ScaleKind::kMixolydian:
      return "mixolydian";
    case ScaleKind::kPentatonic:
      return "pentatonic";
    case ScaleKind::kBlues:
      return "blues";
    case ScaleKind::kChromatic:
      return "chromatic";
  }
  return "chromatic";
}

double key_correlation(const PitchClassHistogram& histogram, int key_pc, ScaleKind mode) noexcept {
  return correlation_with(histogram, mode == ScaleKind::kMinor ? kMinorProfile : kMajorProfile,
                          wrap_pitch_class(key_pc));
}

std::optional<KeyEstimate> estimate_key(const PitchClassHistogram& histogram) {
  std::optional<KeyEstimate> best;
  for (ScaleKind mode : {ScaleKind::kMajor, ScaleKind::kMinor}) {
    const PitchClassHistogram& profile = mode == ScaleKind::kMajor ? kMajorProfile : kMinorProfile;
    for (int key_pc = 0; key_pc < kPitchClasses; ++key_pc) {
      const double r = correlation_with(histogram, profile, key_pc);
      if (!std::isfinite(r)) return std::nullopt;  // no variance: the same for every key
      if (!best || r > best->correlation) best = KeyEstimate{key_pc, mode, r};
    }
  }
  return best;
}

}  // namespace nextbeat::engine
