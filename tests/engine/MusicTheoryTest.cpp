#include "engine/music/MusicTheory.h"

#include <catch2/catch.hpp>

using namespace nextbeat::engine;

TEST_CASE("key names parse to pitch classes", "[unit]") {
  CHECK(pitch_class_of_key("C") == 0);
  CHECK(pitch_class_of_key("C#") == 1);
  CHECK(pitch_class_of_key("Db") == 1);
  CHECK(pitch_class_of_key("D") == 2);
  CHECK(pitch_class_of_key("Eb") == 3);
  CHECK(pitch_class_of_key("F#") == 6);
  CHECK(pitch_class_of_key("Gb") == 6);
  CHECK(pitch_class_of_key("Ab") == 8);
  CHECK(pitch_class_of_key("A") == 9);
  CHECK(pitch_class_of_key("Bb") == 10);
  CHECK(pitch_class_of_key("B") == 11);
  CHECK(pitch_class_of_key("b") == 11);
  CHECK(pitch_class_of_key("Cb") == 11);
  CHECK(pitch_class_of_key("E#") == 5);
  CHECK(pitch_class_of_key("C##") == 2);
  CHECK_FALSE(pitch_class_of_key(""));
  CHECK_FALSE(pitch_class_of_key("H"));
  CHECK_FALSE(pitch_class_of_key("C major"));
  CHECK_FALSE(pitch_class_of_key("#"));
  for (int pc = 0; pc < kPitchClasses; ++pc) CHECK(pitch_class_of_key(key_name(pc)) == pc);
}

TEST_CASE("scale names round-trip", "[unit]") {
  for (ScaleKind scale : {ScaleKind::kMajor, ScaleKind::kMinor, ScaleKind::kDorian, ScaleKind::kMixolydian,
                          ScaleKind::kPentatonic, ScaleKind::kBlues, ScaleKind::kChromatic}) {
    CHECK(scale_kind_of_name(scale_name(scale)) == scale);
  }
  CHECK_FALSE(scale_kind_of_name("lydian"));
}

TEST_CASE("scales hold the expected degrees", "[unit]") {
  CHECK(scale_intervals(ScaleKind::kMajor) == PitchClassSet("101010110101"));  // bit 11 first
  CHECK(scale_intervals(ScaleKind::kMinor) == PitchClassSet("010110101101"));
  CHECK(scale_intervals(ScaleKind::kDorian) == PitchClassSet("011010101101"));
  CHECK(scale_intervals(ScaleKind::kMixolydian) == PitchClassSet("011010110101"));
  CHECK(scale_intervals(ScaleKind::kPentatonic) == PitchClassSet("001010010101"));
  CHECK(scale_intervals(ScaleKind::kBlues) == PitchClassSet("010011101001"));
  CHECK(scale_intervals(ScaleKind::kChromatic).all());
}

TEST_CASE("in_scale transposes to the key", "[unit]") {
  CHECK(in_scale(60, 0, ScaleKind::kMajor));
  CHECK_FALSE(in_scale(61, 0, ScaleKind::kMajor));
  CHECK(in_scale(71, 0, ScaleKind::kMajor));
  // A minor blues: A C D Eb E G.
  for (int pitch : {69, 72, 74, 75, 76, 79, 57, 45}) CHECK(in_scale(pitch, 9, ScaleKind::kBlues));
  for (int pitch : {70, 71, 73, 77, 78, 80}) CHECK_FALSE(in_scale(pitch, 9, ScaleKind::kBlues));
  // F# major pentatonic: F# G# A# C# D#.
  CHECK(in_scale(66, 6, ScaleKind::kPentatonic));
  CHECK(in_scale(61, 6, ScaleKind::kPentatonic));
  CHECK_FALSE(in_scale(71, 6, ScaleKind::kPentatonic));  // B, the fourth
  // Bb mixolydian has Ab, not A.
  CHECK(in_scale(68, 10, ScaleKind::kMixolydian));
  CHECK_FALSE(in_scale(69, 10, ScaleKind::kMixolydian));
  CHECK(in_scale(-1, 0, ScaleKind::kMajor));  // B below MIDI 0 still wraps
}

TEST_CASE("allowed_pitches covers 0..127", "[unit]") {
  // C major: 10 full octaves (0..119) of 7, then C D E F G in 120..127.
  const PitchSet c_major = allowed_pitches(0, ScaleKind::kMajor);
  CHECK(c_major.count() == 75);
  CHECK(c_major.test(0));
  CHECK(c_major.test(127));
  CHECK_FALSE(c_major.test(126));
  CHECK(allowed_pitches(3, ScaleKind::kChromatic).all());
  for (int pitch = 0; pitch < kMidiPitches; ++pitch) {
    CHECK(allowed_pitches(2, ScaleKind::kDorian).test(static_cast<std::size_t>(pitch)) ==
          in_scale(pitch, 2, ScaleKind::kDorian));
  }
}

TEST_CASE("Krumhansl-Schmuckler estimates major and minor keys", "[unit]") {
  SECTION("the profiles themselves") {
    const PitchClassHistogram d_major = {2.29, 2.88, 6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66};
    const auto estimate = estimate_key(d_major);  // the major profile rotated to D (pc 2)
    REQUIRE(estimate);
    CHECK(estimate->key_pc == 2);
    CHECK(estimate->scale == ScaleKind::kMajor);
    CHECK(estimate->correlation == Approx(1.0));
  }
  SECTION("a C major scale with the tonic held") {
    PitchClassHistogram histogram{};
    for (auto [pc, beats] : {std::pair{0, 4.0}, {2, 1.0}, {4, 1.0}, {5, 1.0}, {7, 1.0}, {9, 1.0}, {11, 1.0}}) {
      histogram[static_cast<std::size_t>(pc)] += beats;
    }
    const auto estimate = estimate_key(histogram);
    REQUIRE(estimate);
    CHECK(estimate->key_pc == 0);
    CHECK(estimate->scale == ScaleKind::kMajor);
  }
  SECTION("A harmonic minor") {
    PitchClassHistogram histogram{};
    for (auto [pc, beats] : {std::pair{9, 4.0}, {11, 1.0}, {0, 1.0}, {2, 1.0}, {4, 2.0}, {5, 1.0}, {8, 1.0}}) {
      histogram[static_cast<std::size_t>(pc)] += beats;
    }
    const auto estimate = estimate_key(histogram);
    REQUIRE(estimate);
    CHECK(estimate->key_pc == 9);
    CHECK(estimate->scale == ScaleKind::kMinor);
  }
  SECTION("no key from nothing or from everything") {
    CHECK_FALSE(estimate_key(PitchClassHistogram{}));
    PitchClassHistogram uniform;
    uniform.fill(1.0);
    CHECK_FALSE(estimate_key(uniform));
  }
}
