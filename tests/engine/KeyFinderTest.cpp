// Listening to harmony (engine/music/KeyFinder.h): the key follower with its
// hysteresis, the chord estimate, the bias they give the sampler, and the
// sampler applying it.
#include <cmath>
#include <optional>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/codec/EventCodec.h"
#include "engine/model/Sampler.h"
#include "engine/music/KeyFinder.h"

using namespace nextbeat::engine;

namespace {

struct Played {
  int pitch;
  double beats;  // held this long, from the end of the previous note
};

// Plays the melody into the finder from `beat`, evaluating at every whole
// beat as the engine does; returns the beat where it ended. `keys` gets the
// key in force after each evaluation.
double play(KeyFinder& finder, const std::vector<Played>& melody, double beat,
            std::vector<std::optional<DetectedKey>>* keys = nullptr) {
  for (const Played& n : melody) {
    finder.window().note_on(n.pitch, beat, 1.0);
    const double end = beat + n.beats;
    for (double b = std::floor(beat) + 1; b <= end + 1e-9; b += 1) {
      finder.evaluate(b);
      if (keys != nullptr) keys->push_back(finder.key());
    }
    finder.window().note_off(n.pitch, end);
    beat = end;
  }
  return beat;
}

const std::vector<Played> kCMajorScale = {{60, 1}, {62, 1}, {64, 1}, {65, 1}, {67, 1}, {69, 1}, {71, 1}, {72, 2}};
// A tune in C major (do-mi-sol, cadences on C).
const std::vector<Played> kCMajorTune = {{60, 1}, {64, 1}, {67, 1}, {64, 1}, {65, 1}, {62, 1}, {67, 1}, {60, 1},
                                         {64, 1}, {62, 1}, {60, 1}, {71, 1}, {72, 2}, {67, 1}, {60, 1}};
// A tune in A minor, with its leading tone G#.
const std::vector<Played> kAMinorTune = {{69, 1}, {72, 1}, {76, 1}, {72, 1}, {71, 1}, {68, 1},
                                         {69, 2}, {64, 1}, {69, 1}, {71, 1}, {72, 1}, {74, 1},
                                         {71, 1}, {68, 1}, {69, 2}, {76, 1}, {72, 1}, {69, 2}};
// The same tune as kCMajorTune a fifth up: G major, with F#.
const std::vector<Played> kGMajorTune = {{67, 1}, {71, 1}, {74, 1}, {71, 1}, {72, 1}, {69, 1}, {74, 1}, {67, 1},
                                         {71, 1}, {69, 1}, {67, 1}, {66, 1}, {67, 2}, {74, 1}, {67, 1}};

}  // namespace

TEST_CASE("key finder: a C major scale is C major", "[unit][harmony]") {
  KeyFinder finder;
  play(finder, kCMajorScale, 0);
  REQUIRE(finder.key());
  CHECK(*finder.key() == DetectedKey{0, false});
}

TEST_CASE("key finder: a melody in A minor is A minor", "[unit][harmony]") {
  KeyFinder finder;
  play(finder, kAMinorTune, 0);
  REQUIRE(finder.key());
  CHECK(*finder.key() == DetectedKey{9, true});
  CHECK(key_pitch_classes(*finder.key()).test(8));  // G#, the leading tone, is in its scale
}

TEST_CASE("key finder: one stray F# does not flip C major", "[unit][harmony]") {
  KeyFinder finder;
  double beat = play(finder, kCMajorTune, 0);
  REQUIRE(finder.key() == DetectedKey{0, false});
  std::vector<std::optional<DetectedKey>> keys;
  beat = play(finder, {{66, 1}}, beat, &keys);  // the stray note, a whole beat long
  play(finder, kCMajorTune, beat, &keys);
  for (const auto& k : keys) CHECK(k == DetectedKey{0, false});
}

TEST_CASE("key finder: a modulation is followed after a few beats", "[unit][harmony]") {
  KeyFinder finder;
  double beat = play(finder, kCMajorTune, 0);
  beat = play(finder, kCMajorTune, beat);
  REQUIRE(finder.key() == DetectedKey{0, false});
  std::vector<std::optional<DetectedKey>> keys;
  beat = play(finder, kGMajorTune, beat, &keys);
  play(finder, kGMajorTune, beat, &keys);
  REQUIRE(keys.back() == DetectedKey{7, false});
  std::size_t first_g = 0;
  while (keys[first_g] != DetectedKey{7, false}) ++first_g;
  INFO("G major from beat " << first_g + 1 << " of the new key");
  CHECK(first_g >= 2);   // not on the first notes
  CHECK(first_g <= 12);  // but within a few bars
  for (std::size_t i = first_g; i < keys.size(); ++i) CHECK(keys[i] == DetectedKey{7, false});  // and no flapping
}

TEST_CASE("key finder: nothing heard gives no key, and a reset forgets", "[unit][harmony]") {
  KeyFinder finder;
  CHECK_FALSE(finder.evaluate(4));
  CHECK_FALSE(finder.key());
  play(finder, kCMajorScale, 4);
  CHECK(finder.key());
  finder.reset(20);
  CHECK_FALSE(finder.key());
}

TEST_CASE("chord estimate: triads from pitch classes", "[unit][harmony]") {
  const auto hist = [](std::initializer_list<int> pcs) {
    PitchClassHistogram h{};
    for (int pc : pcs) h[static_cast<std::size_t>(pc)] += 1;
    return h;
  };
  CHECK(best_triad(hist({0, 4, 7}), std::nullopt) == Chord{0, false});
  CHECK(best_triad(hist({9, 0, 4}), std::nullopt) == Chord{9, true});
  CHECK(best_triad(hist({0, 4}), std::nullopt) == Chord{0, false});              // C-E: C major, not A minor
  CHECK(best_triad(hist({7, 11, 2, 5}), std::nullopt) == Chord{7, false});       // G7: G major
  CHECK(best_triad(hist({2, 5, 9}), DetectedKey{0, false}) == Chord{2, true});   // ii in C
  CHECK(best_triad(hist({4, 8, 11}), DetectedKey{9, true}) == Chord{4, false});  // V in A minor
  CHECK_FALSE(best_triad(PitchClassHistogram{}, std::nullopt));
}

TEST_CASE("chord estimate: follows the harmony beat by beat", "[unit][harmony]") {
  ChordFinder finder;
  finder.reset(0);
  for (int p : {48, 52, 55}) finder.window().note_on(p, 0, 4.0);  // a held C major chord
  finder.window().note_on(76, 0.5, 0.5);                          // a melody E on top
  CHECK(finder.estimate(1, DetectedKey{0, false}) == Chord{0, false});
  for (int p : {48, 52, 55}) finder.window().note_off(p, 2);
  for (int p : {53, 57, 60}) finder.window().note_on(p, 2, 4.0);  // then F major
  CHECK(finder.estimate(3, DetectedKey{0, false}) == Chord{5, false});
}

TEST_CASE("harmony bias: chord tones up, clashes with the sounding note down", "[unit][harmony]") {
  PitchClassSet e;
  e.set(4);
  const auto bias = harmony_bias(Chord{0, false}, e, 2.0);
  CHECK(bias[0] == 2.0F);    // C
  CHECK(bias[4] == 2.0F);    // E
  CHECK(bias[7] == 2.0F);    // G
  CHECK(bias[5] == -2.0F);   // F: a semitone above E
  CHECK(bias[3] == -2.0F);   // D#: a major 7th above E
  CHECK(bias[10] == -2.0F);  // Bb: a tritone
  CHECK(bias[2] == 0.0F);    // D: neither
  CHECK(bias[11] == 0.0F);   // B
  const auto off = harmony_bias(Chord{0, false}, e, 0.0);
  for (float b : off) CHECK(b == 0.0F);
}

TEST_CASE("harmony bias: the sampler draws chord tones more, clashes less", "[unit][harmony][sampler]") {
  SamplingControls controls;
  controls.seed = 7;
  std::vector<float> logits(static_cast<std::size_t>(step_input_size(CodecSettings{})), -10.0F);
  for (int p = 48; p < 72; ++p) logits[static_cast<std::size_t>(EventLayout::note_on_token(p))] = 5.0F;
  const auto shares = [&](double weight) {
    Sampler s(CodecSettings{}, controls);
    PitchClassSet e;
    e.set(4);
    s.set_pitch_class_bias(harmony_bias(Chord{0, false}, e, weight));
    int chord = 0, clash = 0, notes = 0;
    for (int i = 0; i < 10'000; ++i) {
      const int t = s.sample_token(logits);
      if (!EventLayout::is_note_on(t)) continue;
      const int pc = EventLayout::pitch_of(t) % 12;
      ++notes;
      chord += pc == 0 || pc == 4 || pc == 7;
      clash += pc == 5 || pc == 3 || pc == 10;
    }
    return std::pair{double(chord) / notes, double(clash) / notes};
  };
  const auto [chord0, clash0] = shares(0);
  const auto [chord2, clash2] = shares(2);
  CHECK(chord0 == Approx(3.0 / 12).margin(0.02));
  CHECK(clash0 == Approx(3.0 / 12).margin(0.02));
  // +2 nats on 3 classes, -2 on 3, 0 on 6: 3e2 / (3e2 + 6 + 3e-2).
  const double e2 = std::exp(2.0);
  CHECK(chord2 == Approx(3 * e2 / (3 * e2 + 6 + 3 / e2)).margin(0.02));
  CHECK(clash2 == Approx((3 / e2) / (3 * e2 + 6 + 3 / e2)).margin(0.01));
}

TEST_CASE("harmony bias: it chooses which note, not whether to play one", "[unit][harmony][sampler]") {
  SamplingControls controls;
  controls.seed = 11;
  // Half the probability on 24 NOTE_ONs, half on one SHIFT.
  const CodecSettings codec;
  const EventLayout layout{.velocity_bins = codec.velocity_bins, .max_shift_ticks = codec.max_shift_ticks};
  std::vector<float> logits(static_cast<std::size_t>(step_input_size(codec)), -30.0F);
  for (int p = 48; p < 72; ++p) logits[static_cast<std::size_t>(EventLayout::note_on_token(p))] = 0.0F;
  logits[static_cast<std::size_t>(layout.shift_token(12))] = static_cast<float>(std::log(24.0));
  const auto note_share = [&](double weight) {
    Sampler s(codec, controls);
    PitchClassSet e;
    e.set(4);
    s.set_pitch_class_bias(harmony_bias(Chord{0, false}, e, weight));
    int notes = 0;
    for (int i = 0; i < 10'000; ++i) notes += EventLayout::is_note_on(s.sample_token(logits)) ? 1 : 0;
    return notes / 10'000.0;
  };
  CHECK(note_share(0) == Approx(0.5).margin(0.02));
  CHECK(note_share(3) == Approx(0.5).margin(0.02));  // 3 nats on C, E and G: as many notes, other ones
}
