#include "engine/offline/DuetMetrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace nextbeat::engine {
namespace {

constexpr double kEps = 1e-6;  // beats: a note starting at the onset sounds at it

int pc_of(int pitch) {
  return ((pitch % kPitchClasses) + kPitchClasses) % kPitchClasses;
}

bool sounding_at(const Note& n, double beat) {
  return n.start_beat <= beat + kEps && n.end_beat > beat + kEps;
}

bool on_grid(double beat) {
  const auto near = [&](double step) {
    const double k = beat / step;
    return std::abs(k - std::round(k)) * step <= kGridToleranceBeats;
  };
  return near(0.25) || near(1.0 / 3);
}

nlohmann::json fraction_json(const Fraction& f) {
  const double r = f.ratio();
  return {{"hits", f.hits}, {"of", f.of}, {"ratio", std::isnan(r) ? nlohmann::json() : nlohmann::json(r)}};
}

}  // namespace

double Fraction::ratio() const {
  return of == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(hits) / static_cast<double>(of);
}

double DuetFigures::notes_per_beat() const {
  return beats <= 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(in_key.of) / beats;
}

DuetFigures& DuetFigures::operator+=(const DuetFigures& o) {
  in_chord += o.in_chord;
  clash += o.clash;
  in_key += o.in_key;
  on_grid += o.on_grid;
  beats += o.beats;
  return *this;
}

DuetKey file_key(std::span<const Note> notes) {
  PitchClassHistogram histogram{};
  for (const Note& n : notes)
    if (!n.is_drum()) histogram[static_cast<std::size_t>(pc_of(n.pitch))] += n.end_beat - n.start_beat;
  if (const auto k = estimate_key(histogram))
    return {k->key_pc, k->scale, "Krumhansl-Schmuckler over the whole file (duration-weighted)"};
  return {0, ScaleKind::kMajor, "none found (no pitched note): C major assumed"};
}

DuetFigures duet_figures(std::span<const Note> part, std::span<const Note> performer,
                         std::span<const Note> accompaniment, const DuetKey& key, double beats) {
  DuetFigures f;
  f.beats = beats;
  for (const Note& n : part) {
    if (n.is_drum()) continue;
    const double t = n.start_beat;
    ++f.in_key.of;
    if (in_scale(n.pitch, key.key_pc, key.scale)) ++f.in_key.hits;
    ++f.on_grid.of;
    if (on_grid(t)) ++f.on_grid.hits;

    PitchClassSet chord;
    for (const Note& a : accompaniment)
      if (!a.is_drum() && sounding_at(a, t)) chord.set(static_cast<std::size_t>(pc_of(a.pitch)));
    if (chord.any()) {
      ++f.in_chord.of;
      if (chord.test(static_cast<std::size_t>(pc_of(n.pitch)))) ++f.in_chord.hits;
    }

    bool performer_sounds = false;
    bool clash = false;
    for (const Note& p : performer) {
      if (p.is_drum() || !sounding_at(p, t)) continue;
      performer_sounds = true;
      const int interval = pc_of(n.pitch - p.pitch);
      clash = clash || interval == 1 || interval == 6 || interval == 11;
    }
    if (performer_sounds) {
      ++f.clash.of;
      if (clash) ++f.clash.hits;
    }
  }
  return f;
}

std::vector<Note> random_in_key(std::span<const Note> part, const DuetKey& key, std::mt19937_64& rng) {
  std::vector<int> classes;
  const PitchClassSet scale = scale_pitch_classes(key.key_pc, key.scale);
  for (int pc = 0; pc < kPitchClasses; ++pc)
    if (scale.test(static_cast<std::size_t>(pc))) classes.push_back(pc);
  std::vector<Note> out(part.begin(), part.end());
  std::uniform_int_distribution<std::size_t> pick(0, classes.size() - 1);
  for (Note& n : out) {
    if (n.is_drum()) continue;
    const int octave = n.pitch - pc_of(n.pitch);
    n.pitch = std::clamp(octave + classes[pick(rng)], 0, 127);
  }
  return out;
}

nlohmann::json to_json(const DuetFigures& f) {
  const double npb = f.notes_per_beat();
  return {{"in_chord", fraction_json(f.in_chord)},
          {"clash", fraction_json(f.clash)},
          {"in_key", fraction_json(f.in_key)},
          {"on_grid", fraction_json(f.on_grid)},
          {"notes", f.in_key.of},
          {"beats", f.beats},
          {"notes_per_beat", std::isnan(npb) ? nlohmann::json() : nlohmann::json(npb)}};
}

}  // namespace nextbeat::engine
