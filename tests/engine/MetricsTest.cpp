#include "engine/offline/Metrics.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace nextbeat::engine;

namespace {

Note note(int pitch, double start_beat, double end_beat, int channel = 0) {
  Note n;
  n.pitch = pitch;
  n.start_beat = start_beat;
  n.end_beat = end_beat;
  n.channel = channel;
  return n;
}

Score score_of(std::vector<Note> notes) {
  Score score;
  score.notes = std::move(notes);
  score.sort_notes();
  return score;
}

// Prime: C4 for 1 beat, E4 for 1, G4 for 2. Duration histogram C 1/4, E 1/4,
// G 1/2; count histogram 1/3 each.
Score prime() {
  return score_of({note(60, 0, 1), note(64, 1, 2), note(67, 2, 4)});
}

// Continuation: C4 [0,1), D4 [1,2), G4 [2,2.5), C#4 [2.55,3.05), and a drum
// hit that every metric ignores. Durations: C 1, D 1, G 1/2, C# 1/2 (of 3).
Score continuation() {
  return score_of({note(60, 0, 1), note(62, 1, 2), note(67, 2, 2.5), note(61, 2.55, 3.05), note(36, 0, 0.1, 9)});
}

}  // namespace

TEST_CASE("pitch-class histograms by duration and by count", "[unit]") {
  const PitchClassHistogram by_duration = pitch_class_histogram(prime(), HistogramWeighting::kDuration);
  CHECK(by_duration[0] == Approx(0.25));
  CHECK(by_duration[4] == Approx(0.25));
  CHECK(by_duration[7] == Approx(0.5));
  const PitchClassHistogram by_count = pitch_class_histogram(prime(), HistogramWeighting::kCount);
  CHECK(by_count[0] == Approx(1.0 / 3));
  CHECK(by_count[7] == Approx(1.0 / 3));
  const PitchClassHistogram drums_only =
      pitch_class_histogram(score_of({note(36, 0, 1, 9)}), HistogramWeighting::kCount);
  for (double bin : drums_only) CHECK(bin == 0);
}

TEST_CASE("generation metrics of a hand-built continuation", "[unit]") {
  MetricsOptions options;
  options.key_pc = 0;
  options.scale = ScaleKind::kMajor;
  options.length_beats = 4;
  const GenerationMetrics m = compute_generation_metrics(prime(), continuation(), options);

  CHECK(m.note_count == 4);
  CHECK(m.note_density == Approx(1.0));  // 4 notes in 4 beats
  // |1/4-1/3| (C) + 1/6 (C#) + 1/3 (D) + 1/4 (E) + |1/2-1/6| (G) = 7/6
  CHECK(m.pitch_class_distance == Approx(7.0 / 6));
  CHECK(m.in_key_ratio == Approx(0.75));         // C# is not in C major
  CHECK(m.onset_on_grid_ratio == Approx(0.75));  // 2.55 is 0.05 off the sixteenth grid
  CHECK(m.polyphony == Approx(1.0));             // one note at a time
  CHECK(m.pitch_min == 60);
  CHECK(m.pitch_max == 67);
  CHECK(m.pitch_range == 7);
  CHECK(m.key_pc == 0);

  SECTION("count weighting") {
    options.weighting = HistogramWeighting::kCount;
    // |1/3-1/4| + 1/4 + 1/4 + 1/3 + |1/3-1/4| = 1
    CHECK(compute_generation_metrics(prime(), continuation(), options).pitch_class_distance == Approx(1.0));
  }
  SECTION("another key and scale") {
    options.key_pc = 0;
    options.scale = ScaleKind::kBlues;  // C Eb F Gb G Bb: C and G in
    CHECK(compute_generation_metrics(prime(), continuation(), options).in_key_ratio == Approx(0.5));
    options.key_pc = 9;
    options.scale = ScaleKind::kMinor;  // A minor = C major's pitch classes
    CHECK(compute_generation_metrics(prime(), continuation(), options).in_key_ratio == Approx(0.75));
  }
  SECTION("the key estimated from the prime") {
    options.key_pc.reset();
    const GenerationMetrics estimated = compute_generation_metrics(prime(), continuation(), options);
    CHECK(estimated.key_pc == 0);
    CHECK(estimated.key_scale == ScaleKind::kMajor);
    CHECK(estimated.in_key_ratio == Approx(0.75));
  }
  SECTION("a wider grid tolerance, a coarser grid") {
    options.grid_tolerance_beats = 0.06;
    CHECK(compute_generation_metrics(prime(), continuation(), options).onset_on_grid_ratio == Approx(1.0));
    options.grid_tolerance_beats = 0.01;
    options.grid_beats = 1;  // 0, 1 and 2 are on the beat; 2.55 is not
    CHECK(compute_generation_metrics(prime(), continuation(), options).onset_on_grid_ratio == Approx(0.75));
  }
  SECTION("density over the notes' own span") {
    options.length_beats = 0;
    CHECK(compute_generation_metrics(prime(), continuation(), options).note_density == Approx(4 / 3.05));
    options.start_beat = 1;
    options.length_beats = 2;  // D, G and C# start in [1, 3)
    CHECK(compute_generation_metrics(prime(), continuation(), options).note_density == Approx(1.5));
  }
}

TEST_CASE("an onset just before a grid line counts", "[unit]") {
  MetricsOptions options;
  const Score early = score_of({note(60, 0.99, 1.5), note(62, 1.9, 2.5)});
  // 0.99 is 0.01 before beat 1 (tolerance 1/48); 1.9 is 0.1 from 2 and 0.15 from 1.75.
  CHECK(compute_generation_metrics(prime(), early, options).onset_on_grid_ratio == Approx(0.5));
}

TEST_CASE("polyphony is the mean over time while something sounds", "[unit]") {
  // [0,2) and [1,3) overlap, then [5,6) alone after a rest: 5 note-beats over
  // 4 sounding beats.
  const Score chords = score_of({note(60, 0, 2), note(64, 1, 3), note(67, 5, 6)});
  CHECK(compute_generation_metrics(prime(), chords, {}).polyphony == Approx(1.25));
  const Score triad = score_of({note(60, 0, 1), note(64, 0, 1), note(67, 0, 1)});
  CHECK(compute_generation_metrics(prime(), triad, {}).polyphony == Approx(3.0));
}

TEST_CASE("an empty continuation gives NaN, not made-up zeros", "[unit]") {
  MetricsOptions options;
  GenerationMetrics m = compute_generation_metrics(prime(), Score{}, options);
  CHECK(m.note_count == 0);
  CHECK(std::isnan(m.note_density));  // no span to divide by
  CHECK(std::isnan(m.pitch_class_distance));
  CHECK(std::isnan(m.in_key_ratio));
  CHECK(std::isnan(m.onset_on_grid_ratio));
  CHECK(std::isnan(m.polyphony));
  CHECK(std::isnan(m.pitch_range));
  options.length_beats = 8;
  m = compute_generation_metrics(prime(), Score{}, options);
  CHECK(m.note_density == 0);  // 8 generated beats of silence
  // An empty prime has no key: in_key_ratio needs one given.
  CHECK(std::isnan(compute_generation_metrics(Score{}, continuation(), {}).in_key_ratio));
}

TEST_CASE("mean_generation_metrics skips NaNs field by field", "[unit]") {
  GenerationMetrics a;
  a.note_density = 1;
  a.pitch_class_distance = std::nan("");
  a.polyphony = 2;
  a.key_pc = 0;
  GenerationMetrics b;
  b.note_density = 3;
  b.pitch_class_distance = 0.5;
  b.polyphony = 1;
  b.key_pc = 0;
  std::vector<GenerationMetrics> items = {a, b};
  GenerationMetrics mean = mean_generation_metrics(items);
  CHECK(mean.note_density == Approx(2));
  CHECK(mean.pitch_class_distance == Approx(0.5));
  CHECK(mean.polyphony == Approx(1.5));
  CHECK(mean.key_pc == 0);
  items[1].key_pc = 7;
  CHECK(mean_generation_metrics(items).key_pc == -1);
  CHECK(std::isnan(mean_generation_metrics({}).note_density));
}
