// How well one part fits a performer and a file's own accompaniment
// (`nextbeat jam`): note in the sounding chord, clash with the sounding
// performer note, in key, notes per beat, onsets on the beat grid. Plain C++.
//
// Every figure is kept as counts (numerator and denominator), so that figures
// over many files pool as sums of counts, never as means of ratios. Drum
// notes are ignored, as in Metrics.h. Times are beats of the file.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/music/MusicTheory.h"
#include "engine/music/Score.h"

namespace nextbeat::engine {

// A ratio as counts; ratio() is NaN when the denominator is 0 (undefined, not 0).
struct Fraction {
  std::uint64_t hits = 0;
  std::uint64_t of = 0;
  double ratio() const;
  Fraction& operator+=(const Fraction& o) {
    hits += o.hits;
    of += o.of;
    return *this;
  }
};

struct DuetFigures {
  // Onsets whose pitch class sounds in the accompaniment at that moment, over
  // the onsets at which the accompaniment sounds at all.
  Fraction in_chord;
  // Onsets at an interval class of 1, 6 or 11 semitones (minor 2nd / major
  // 7th, tritone) from some performer note sounding at that moment, over the
  // onsets at which the performer sounds.
  Fraction clash;
  Fraction in_key;   // onsets in the file's key (its major or natural minor scale), over all onsets
  Fraction on_grid;  // onsets on the 16th or the 8th-triplet grid (kGridToleranceBeats), over all onsets
  double beats = 0;  // the span for notes per beat (the file's length)
  double notes_per_beat() const;
  DuetFigures& operator+=(const DuetFigures& o);
};

inline constexpr double kGridToleranceBeats = 1.0 / 48;

struct DuetKey {
  int key_pc = 0;
  ScaleKind scale = ScaleKind::kMajor;
  std::string how;  // how it was found, for the report
};

// The file's key: Krumhansl–Schmuckler (estimate_key) on the duration-weighted
// pitch-class histogram of every pitched note of the file (the MIDI reader
// keeps no key signature). C major when the file has no pitched note.
DuetKey file_key(std::span<const Note> notes);

// The figures of `part` against `performer` and `accompaniment` over `beats` beats.
DuetFigures duet_figures(std::span<const Note> part, std::span<const Note> performer,
                         std::span<const Note> accompaniment, const DuetKey& key, double beats);

// Baseline (a): at each onset of `part`, a random pitch class of the key's
// scale (uniform, from `rng`) in the octave of the part's note, same times.
std::vector<Note> random_in_key(std::span<const Note> part, const DuetKey& key, std::mt19937_64& rng);

// {"in_chord": {"hits", "of", "ratio"}, ..., "notes", "beats", "notes_per_beat"}; ratios NaN -> null.
nlohmann::json to_json(const DuetFigures& f);

}  // namespace nextbeat::engine
