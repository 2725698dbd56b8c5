// Generation metrics: how a continuation compares with the prime it was
// generated from (`nextbeat eval`, `nextbeat generate`). Plain C++.
//
// Drum-channel notes are ignored throughout: their pitch numbers name
// instruments, not pitches, and a drum part would swamp density and polyphony.
// A figure that is undefined for the input (e.g. the histogram distance of an
// empty continuation) is NaN, never a made-up 0; mean_generation_metrics skips
// NaNs field by field.
#pragma once

#include <optional>
#include <span>

#include "engine/music/MusicTheory.h"
#include "engine/music/Score.h"

namespace nextbeat::engine {

enum class HistogramWeighting {
  // Each note counts its length in beats: a held note weighs more than a grace
  // note in how a passage sounds, a model that emits many short notes does not
  // dominate, and the Krumhansl–Schmuckler profiles were fitted to durations.
  kDuration,
  // Each note counts 1.
  kCount,
};

struct MetricsOptions {
  HistogramWeighting weighting = HistogramWeighting::kDuration;
  // The key for in_key_ratio. Unset: estimated from the prime (major or minor,
  // Krumhansl–Schmuckler on the prime's histogram with `weighting`).
  std::optional<int> key_pc;
  ScaleKind scale = ScaleKind::kMajor;  // used only with key_pc
  // Onset grid, in beats from beat 0 of the continuation's own time line
  // (1/4 = sixteenths), and how far an onset may lie from it and still count.
  double grid_beats = 0.25;
  double grid_tolerance_beats = 1.0 / 48;
  // The span for note_density: [start_beat, start_beat + length_beats) of the
  // continuation. length_beats <= 0 means "to the continuation's last note
  // end". Set it to the number of beats generated, so that trailing silence
  // counts.
  double start_beat = 0;
  double length_beats = 0;
};

struct GenerationMetrics {
  double note_count = 0;            // pitched notes in the continuation
  double note_density = 0;          // notes starting in the span, per beat (NaN for an empty span)
  double pitch_class_distance = 0;  // L1 between normalised 12-bin histograms of prime and continuation, 0..2
  double in_key_ratio = 0;          // fraction of continuation notes (by count) in the key, 0..1
  double onset_on_grid_ratio = 0;   // fraction of continuation onsets on the grid, 0..1
  double polyphony = 0;             // mean notes sounding, over the time at least one sounds (>= 1)
  double pitch_min = 0;             // lowest and highest MIDI pitch of the continuation
  double pitch_max = 0;
  double pitch_range = 0;  // pitch_max - pitch_min, semitones
  // The key in_key_ratio used: key_pc -1 when none (prime with no key, and
  // none given; also in a mean over differing keys).
  int key_pc = -1;
  ScaleKind key_scale = ScaleKind::kMajor;
};

// Normalised to sum 1, or all zeros when the score has no pitched notes.
PitchClassHistogram pitch_class_histogram(const Score& score, HistogramWeighting weighting);

GenerationMetrics compute_generation_metrics(const Score& prime, const Score& continuation,
                                             const MetricsOptions& options);

// The mean of each field over the items where it is finite (NaN where none
// is). key_pc is kept only when every item has the same key.
GenerationMetrics mean_generation_metrics(std::span<const GenerationMetrics> items);

}  // namespace nextbeat::engine
