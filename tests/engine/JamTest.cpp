// `nextbeat jam` without the CLI: the duet metrics on hand-made notes whose
// answers are worked out by hand, and the offline jam (the real live engine
// on a fake clock) over a short made-up file: repeatable with a seed.
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "config/ConfigLoader.h"
#include "engine/model/Model.h"
#include "engine/music/MusicTheory.h"
#include "engine/music/Score.h"
#include "engine/offline/DuetMetrics.h"
#include "engine/offline/Jam.h"

using namespace nextbeat;
using namespace nextbeat::engine;

namespace {

Note note(int pitch, double start, double end, std::uint8_t source = 0) {
  return Note{.pitch = pitch, .velocity = 80, .start_beat = start, .end_beat = end, .source = source};
}

// A C-major tune of `beats` quarter notes (performer, source 0, track 0) over
// held C / F / G chords a bar each (accompaniment, source 1, track 1), with a
// tempo change halfway.
Score made_up_tune(int beats) {
  static constexpr int kMelody[] = {72, 74, 76, 72, 77, 76, 74, 72, 71, 74, 79, 77, 76, 74, 72, 72};
  static constexpr int kChords[][3] = {{48, 52, 55}, {53, 57, 60}, {55, 59, 62}, {48, 52, 55}};
  Score s;
  s.source = "made-up tune";
  s.tempo_map = {{0, 100}, {beats / 2.0, 140}};
  s.time_signatures = {{0, 4, 4}};
  for (int b = 0; b < beats; ++b) {
    Note n = note(kMelody[b % 16], b, b + 0.9, 0);
    s.notes.push_back(n);
  }
  for (int bar = 0; bar * 4 < beats; ++bar)
    for (int p : kChords[bar % 4]) {
      Note n = note(p, bar * 4, bar * 4 + 4, 1);
      n.track = 1;
      n.channel = 1;
      s.notes.push_back(n);
    }
  s.sort_notes();
  return s;
}

}  // namespace

TEST_CASE("duet figures on hand-made notes: in chord, clash, in key, grid, density", "[jam]") {
  // C-E-G held for 4 beats; the performer holds G4 for 3 beats; the part
  // plays C5 (beat 0), F#4 (1), E5 (2) and D5 (3.1, off the grid, the performer silent).
  const std::vector<Note> chord = {note(60, 0, 4, 1), note(64, 0, 4, 1), note(67, 0, 4, 1)};
  const std::vector<Note> performer = {note(67, 0, 3)};
  const std::vector<Note> part = {note(72, 0, 1, 1), note(66, 1, 2, 1), note(76, 2, 3, 1), note(74, 3.1, 4, 1)};
  const DuetKey c_major{0, ScaleKind::kMajor, "given"};

  const DuetFigures f = duet_figures(part, performer, chord, c_major, 4);
  // In chord: C and E are, F# and D are not; the chord sounds at every onset.
  CHECK(f.in_chord.hits == 2);
  CHECK(f.in_chord.of == 4);
  // Clash: F#4 against G4 is a semitone (class 11); C5-G4 = 5, E5-G4 = 9 are
  // not; the performer is silent at 3.1, so that onset is not counted.
  CHECK(f.clash.hits == 1);
  CHECK(f.clash.of == 3);
  CHECK(f.in_key.hits == 3);  // F# is out of C major
  CHECK(f.in_key.of == 4);
  CHECK(f.on_grid.hits == 3);  // 3.1 is neither a 16th nor an 8th triplet
  CHECK(f.notes_per_beat() == Approx(1.0));

  // The accompaniment against itself: always in its own chord, and C or E
  // against G is no clash.
  const DuetFigures a = duet_figures(chord, performer, chord, c_major, 4);
  CHECK(a.in_chord.ratio() == Approx(1.0));
  CHECK(a.clash.hits == 0);
  CHECK(a.clash.of == 3);

  // An onset on the 8th-triplet grid counts; a tritone counts as a clash; no
  // accompaniment leaves note-in-chord undefined (NaN), not 0.
  const std::vector<Note> triplet = {note(73, 1.0 / 3, 1)};  // C#5 against G4: tritone
  const DuetFigures t = duet_figures(triplet, performer, {}, c_major, 1);
  CHECK(t.on_grid.hits == 1);
  CHECK(t.clash.hits == 1);
  CHECK(std::isnan(t.in_chord.ratio()));

  // Pooling sums counts.
  DuetFigures pooled = f;
  pooled += t;
  CHECK(pooled.clash.hits == 2);
  CHECK(pooled.clash.of == 4);
  CHECK(pooled.beats == Approx(5));
}

TEST_CASE("the random in-key baseline keeps the onsets and stays in the key", "[jam]") {
  const std::vector<Note> part = {note(61, 0, 1), note(66, 1, 2), note(70, 2.5, 3)};
  const DuetKey d_minor{2, ScaleKind::kMinor, "given"};
  std::mt19937_64 rng_a(5);
  std::mt19937_64 rng_b(5);
  const auto a = random_in_key(part, d_minor, rng_a);
  const auto b = random_in_key(part, d_minor, rng_b);
  REQUIRE(a.size() == part.size());
  CHECK(a == b);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].start_beat == part[i].start_beat);
    CHECK(in_scale(a[i].pitch, 2, ScaleKind::kMinor));
    CHECK(std::abs(a[i].pitch - part[i].pitch) < 12);
  }
}

TEST_CASE("the file's key from a C-major tune is C major", "[jam]") {
  const Score s = made_up_tune(16);
  const DuetKey k = file_key(s.notes);
  CHECK(k.key_pc == 0);
  CHECK(k.scale == ScaleKind::kMajor);
}

TEST_CASE("a fake-clock jam over a short file is repeatable with a seed", "[jam]") {
  const Score tune = made_up_tune(16);
  JamOptions options;
  const std::vector<std::string> overrides = {"engine.mode=accompany", "sampling.seed=7"};
  options.config = config::default_config(overrides);
  options.ideal_time = true;
  const auto jam = [&] {
    return run_jam(load_live_model("default:events", options.config.model).model, tune, options);
  };
  const JamRun a = jam();
  const JamRun b = jam();
  INFO("nextbeat played " << a.nextbeat.size() << " notes");
  REQUIRE(!a.nextbeat.empty());
  CHECK(a.nextbeat == b.nextbeat);
  CHECK(a.duet.notes == b.duet.notes);
  // Ideal time: no rollout can miss; every beat after the first note is played.
  CHECK(a.engine.misses == 0);
  CHECK(a.engine.predictions > 8);
  CHECK(a.performer.size() == 16);
  CHECK(a.accompaniment.size() == 12);
  // nextbeat's notes lie within the tune, each ends after it starts, and it
  // plays on a channel of its own.
  for (const Note& n : a.nextbeat) {
    CHECK(n.start_beat >= 0);
    CHECK(n.end_beat > n.start_beat);
    CHECK(n.end_beat <= tune.end_beat() + 1e-6);
    CHECK(n.channel != 0);
    CHECK(n.source == 1);
  }
  // The duet: performer on track 1, nextbeat on track 2, named.
  REQUIRE(a.duet.track_names.size() >= 3);
  CHECK(a.duet.track_names[1] == "performer");
  CHECK(a.duet.track_names[2] == "nextbeat");
  CHECK(a.duet.tempo_map == tune.tempo_map);

  // The report: nextbeat's onsets carry over to the random baseline; the
  // accompaniment is always in its own chord.
  const JamReport r = jam_report(a, file_key(tune.notes), 1);
  CHECK(r.nextbeat.in_key.of == a.nextbeat.size());
  CHECK(r.random_in_key.in_key.of == a.nextbeat.size());
  CHECK(r.random_in_key.in_key.ratio() == Approx(1.0));
  CHECK(r.accompaniment.in_chord.ratio() == Approx(1.0));
  CHECK(r.nextbeat.beats == Approx(16));
}

TEST_CASE("a jam refuses a file without a performer note", "[jam]") {
  Score s = made_up_tune(4);
  for (Note& n : s.notes) n.source = 1;
  JamOptions options;
  options.config = config::default_config();
  CHECK_THROWS_AS(run_jam(load_live_model("default:events", options.config.model).model, s, options),
                  std::invalid_argument);
}
