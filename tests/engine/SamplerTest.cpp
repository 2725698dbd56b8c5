// The sampler (engine/model/Sampler.h) on hand-built logits, seeded: each
// control changes the draws as it says, counted over thousands of draws.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/codec/Codec.h"
#include "engine/codec/EventCodec.h"
#include "engine/model/Sampler.h"

using namespace nextbeat::engine;

namespace {

constexpr int kDraws = 10'000;

CodecSettings events_codec() {
  return CodecSettings{};
}
CodecSettings pianoroll_codec() {
  CodecSettings c;
  c.kind = CodecKind::kPianoRoll;
  return c;
}
std::size_t vocabulary() {
  return static_cast<std::size_t>(step_input_size(events_codec()));
}

SamplingControls seeded(std::uint64_t seed = 42) {
  SamplingControls c;
  c.seed = seed;
  return c;
}

// Logits drawn from N(0, spread), seeded.
std::vector<float> random_logits(std::size_t n, std::uint32_t seed, float spread = 2.0F) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0F, spread);
  std::vector<float> l(n);
  for (auto& v : l) v = normal(rng);
  return l;
}

std::map<int, int> histogram(Sampler& s, const std::vector<float>& logits, int draws = kDraws) {
  std::map<int, int> h;
  for (int i = 0; i < draws; ++i) ++h[s.sample_token(logits)];
  return h;
}

// Shannon entropy (nats) of a histogram.
double entropy(const std::map<int, int>& h) {
  double total = 0;
  for (const auto& [token, n] : h) total += n;
  double e = 0;
  for (const auto& [token, n] : h) {
    const double p = n / total;
    e -= p * std::log(p);
  }
  return e;
}

// softmax(logits / t) over the tokens the default controls allow.
std::vector<double> softmax(const std::vector<float>& logits, double t) {
  std::vector<double> p(logits.size());
  const float peak = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (std::size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp((logits[i] - peak) / t);
  for (auto& v : p) v /= sum;
  return p;
}

// Logits where only the default-allowed tokens can win: note-ons outside the
// default pitch range 21..108 are masked by the sampler, so none of them is the argmax.
std::vector<float> in_range_logits(std::uint32_t seed) {
  auto l = random_logits(vocabulary(), seed);
  for (int p = 0; p < 128; ++p)
    if (p < 21 || p > 108) l[static_cast<std::size_t>(EventLayout::note_on_token(p))] = -20.0F;
  return l;
}

}  // namespace

TEST_CASE("sampler: the same seed gives the same draws", "[unit][sampler]") {
  const auto logits = random_logits(vocabulary(), 1);
  Sampler a(events_codec(), seeded(9)), b(events_codec(), seeded(9)), c(events_codec(), seeded(10));
  std::vector<int> da, db, dc;
  for (int i = 0; i < 200; ++i) {
    da.push_back(a.sample_token(logits));
    db.push_back(b.sample_token(logits));
    dc.push_back(c.sample_token(logits));
  }
  CHECK(da == db);
  CHECK(da != dc);
}

TEST_CASE("sampler: top_k = 1 is the argmax", "[unit][sampler]") {
  for (const std::uint32_t seed : {1U, 2U, 3U, 4U, 5U}) {
    auto logits = in_range_logits(seed);
    // The argmax placed on a note-on, a velocity and a shift token in turn.
    const EventLayout layout;
    const int target = std::array{EventLayout::note_on_token(64), layout.velocity_token(7), layout.shift_token(3),
                                  EventLayout::note_off_token(60), EventLayout::note_on_token(30)}[seed - 1];
    logits[static_cast<std::size_t>(target)] = *std::max_element(logits.begin(), logits.end()) + 0.05F;
    auto controls = seeded(seed);
    controls.top_k = 1;
    controls.temperature = 3.0;  // flat: without top-k the argmax would win rarely
    Sampler s(events_codec(), controls);
    const auto h = histogram(s, logits, 2000);
    CAPTURE(seed, target);
    REQUIRE(h.size() == 1);
    CHECK(h.begin()->first == target);
  }
  SECTION("pianoroll: at most k keys a frame, the most likely ones") {
    std::vector<float> logits(kKeys, 3.0F);  // every key likely
    logits[40] = 12.0F;
    logits[50] = 5.0F;
    auto controls = seeded();
    controls.top_k = 1;
    Sampler s(pianoroll_codec(), controls);
    for (int i = 0; i < 2000; ++i) {
      const Frame f = s.sample_frame(logits, {});
      REQUIRE(f.count() == 1);
      CHECK(f[40]);  // always drawn (p = 0.998) and the most likely of those drawn
    }
  }
}

TEST_CASE("sampler: a key and scale yield only their notes", "[unit][sampler]") {
  // D major: D E F# G A B C#.
  const std::set<int> d_major{2, 4, 6, 7, 9, 11, 1};
  auto controls = seeded();
  controls.key = 2;
  controls.scale = ScaleKind::kMajor;
  SECTION("events") {
    // Only note-ons are likely, all equally: the constraint alone decides which.
    std::vector<float> logits(vocabulary(), -10.0F);
    for (int p = 0; p < 128; ++p) logits[static_cast<std::size_t>(EventLayout::note_on_token(p))] = 5.0F;
    Sampler s(events_codec(), controls);
    std::set<int> classes;
    int notes = 0;
    for (int i = 0; i < kDraws; ++i) {
      const int t = s.sample_token(logits);
      if (!EventLayout::is_note_on(t)) continue;
      ++notes;
      const int pitch = EventLayout::pitch_of(t);
      CHECK(d_major.count(pitch % 12) == 1);
      CHECK((pitch >= 21 && pitch <= 108));
      classes.insert(pitch % 12);
    }
    CHECK(notes > kDraws * 9 / 10);
    CHECK(classes == d_major);  // the constraint, not silence
  }
  SECTION("pianoroll") {
    const std::vector<float> logits(kKeys, 0.0F);  // every key at p = 0.5
    Sampler s(pianoroll_codec(), controls);
    std::set<int> classes;
    for (int i = 0; i < kDraws; ++i) {
      const Frame f = s.sample_frame(logits, {});
      for (int k = 0; k < kKeys; ++k)
        if (f[static_cast<std::size_t>(k)]) {
          const int pc = (kLowestKey + k) % 12;
          if (d_major.count(pc) == 0) FAIL("pitch class " << pc << " outside D major");
          classes.insert(pc);
        }
    }
    CHECK(classes == d_major);
  }
}

TEST_CASE("sampler: temperature and top-p change the entropy as they should", "[unit][sampler]") {
  const auto logits = in_range_logits(7);
  const auto drawn_entropy = [&](double temperature, double top_p) {
    auto controls = seeded();
    controls.temperature = temperature;
    controls.top_p = top_p;
    Sampler s(events_codec(), controls);
    return entropy(histogram(s, logits));
  };
  const double cold = drawn_entropy(0.5, 1.0), plain = drawn_entropy(1.0, 1.0), hot = drawn_entropy(2.0, 1.0);
  INFO("entropy at T = 0.5, 1, 2: " << cold << ", " << plain << ", " << hot);
  CHECK(cold < plain - 0.3);
  CHECK(plain < hot - 0.3);
  CHECK(drawn_entropy(1.0, 0.5) < plain - 0.3);
  CHECK(drawn_entropy(1.0, 0.2) < drawn_entropy(1.0, 0.5));

  SECTION("T = 1 draws softmax(logits)") {
    Sampler s(events_codec(), seeded());
    const auto h = histogram(s, logits, 4 * kDraws);
    const auto p = softmax(logits, 1.0);
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double got = h.count(static_cast<int>(i)) ? h.at(static_cast<int>(i)) / (4.0 * kDraws) : 0.0;
      CAPTURE(i, p[i], got);
      CHECK(std::abs(got - p[i]) < 4 * std::sqrt(p[i] * (1 - p[i]) / (4.0 * kDraws)) + 1e-3);
    }
  }
  SECTION("top-p keeps the smallest set holding that much probability") {
    const auto p = softmax(logits, 1.0);
    std::vector<int> order(p.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    std::set<int> nucleus;
    double mass = 0;
    for (const int t : order) {
      nucleus.insert(t);
      mass += p[static_cast<std::size_t>(t)];
      if (mass >= 0.5) break;
    }
    auto controls = seeded();
    controls.top_p = 0.5;
    Sampler s(events_codec(), controls);
    std::set<int> drawn;
    for (const auto& [token, n] : histogram(s, logits)) drawn.insert(token);
    CHECK(drawn == nucleus);
  }
}

// Density does not bend the logits (Sampler.h): the rollouts ask
// onset_sounds() about each note the model starts, and play it only if it says so.
TEST_CASE("sampler: density near 0 yields no notes", "[unit][sampler]") {
  const auto sounding = [](double density) {
    auto controls = seeded();
    controls.density = density;
    Sampler s(events_codec(), controls);
    int n = 0;
    for (int i = 0; i < kDraws; ++i) n += s.onset_sounds() ? 1 : 0;
    return n;
  };
  CHECK(sounding(0.0) == 0);
  CHECK(sounding(1e-12) == 0);
  CHECK(sounding(1e-6) <= 1);
  CHECK(sounding(1.0) == kDraws);  // the same onsets at density 1: every one sounds
  CHECK(std::abs(sounding(0.3) - 0.3 * kDraws) < 4 * std::sqrt(0.3 * 0.7 * kDraws));
  SECTION("nothing is banked below 1; above 1 density - 1 extra notes an onset") {
    auto controls = seeded();
    controls.density = 0.01;
    Sampler quiet(events_codec(), controls);
    for (int i = 0; i < 100; ++i) quiet.onset_sounds();
    CHECK(!quiet.extra_note_due());
    controls.density = 1.5;
    Sampler dense(events_codec(), controls);
    int extras = 0;
    for (int i = 0; i < 100; ++i) {
      CHECK(dense.onset_sounds());
      while (dense.extra_note_due()) {
        dense.extra_note_played();
        ++extras;
      }
    }
    CHECK(extras == 50);
  }
}

TEST_CASE("sampler: the repetition penalty lowers repeats", "[unit][sampler]") {
  // 24 equally likely pitches: a repeat is a pitch among the last 16 drawn.
  std::vector<float> logits(vocabulary(), -30.0F);
  for (int p = 60; p < 84; ++p) logits[static_cast<std::size_t>(EventLayout::note_on_token(p))] = 2.0F;
  const auto repeat_rate = [&](double penalty) {
    auto controls = seeded();
    controls.repetition_penalty = penalty;
    Sampler s(events_codec(), controls);
    std::vector<int> recent;
    int repeats = 0;
    for (int i = 0; i < kDraws; ++i) {
      const int t = s.sample_token(logits);
      REQUIRE(EventLayout::is_note_on(t));
      const int pitch = EventLayout::pitch_of(t);
      const auto from = recent.size() > 16 ? recent.end() - 16 : recent.begin();
      if (std::find(from, recent.end(), pitch) != recent.end()) ++repeats;
      recent.push_back(pitch);
    }
    return static_cast<double>(repeats) / kDraws;
  };
  const double none = repeat_rate(1.0), mild = repeat_rate(1.5), strong = repeat_rate(4.0);
  INFO("repeat rate at penalty 1, 1.5, 4: " << none << ", " << mild << ", " << strong);
  // Without a penalty about (distinct of the last 16) / 24 of the draws repeat (~0.5).
  CHECK(none > 0.4);
  CHECK(mild < none - 0.05);
  CHECK(strong < mild - 0.05);
  SECTION("pianoroll: a key just played is less likely next frame") {
    const auto key_rate = [&](double penalty) {
      auto controls = seeded();
      controls.repetition_penalty = penalty;
      Sampler s(pianoroll_codec(), controls);
      std::vector<float> frame_logits(kKeys, -30.0F);
      frame_logits[39] = 1.0F;  // p = 0.73 alone
      int on = 0;
      for (int i = 0; i < kDraws; ++i) on += s.sample_frame(frame_logits, {})[39] ? 1 : 0;
      return static_cast<double>(on) / kDraws;
    };
    CHECK(key_rate(1.0) == Approx(0.73).margin(0.02));
    CHECK(key_rate(3.0) < key_rate(1.0) - 0.1);
  }
}

TEST_CASE("sampler: a NADE frame draws the brute-force joint of its conditionals", "[unit][sampler]") {
  // Three keys allowed (MIDI 60, 61, 62 = keys 39, 40, 41); the NADE terms
  // make each key depend on the ones below it.
  constexpr std::size_t a = 39, b = 40, c = 41;
  std::vector<float> logits(kKeys, 8.0F);  // keys outside the range must never sound, likely as they are
  logits[a] = 0.4F;
  logits[b] = -0.5F;
  logits[c] = 0.2F;
  std::vector<float> nade(static_cast<std::size_t>(kKeys) * kKeys, 0.0F);
  nade[b * kKeys + a] = 2.0F;                                       // b likelier when a sounds
  nade[c * kKeys + a] = -3.0F;                                      // c unlikely with a
  nade[c * kKeys + b] = 1.5F;                                       // c likelier with b
  for (std::size_t k = 0; k < 39; ++k) nade[c * kKeys + k] = 5.0F;  // keys below the range are off: no effect
  auto controls = seeded();
  controls.pitch_min = 60;
  controls.pitch_max = 62;
  Sampler s(pianoroll_codec(), controls);
  // Brute force: P(x) = prod_k sigmoid(l_k + sum_{j<k} W_kj x_j)^x_k (1 - ...)^(1 - x_k).
  const auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  std::array<double, 8> expected{};
  for (int bits = 0; bits < 8; ++bits) {
    const double xa = bits & 1, xb = (bits >> 1) & 1, xc = (bits >> 2) & 1;
    const double pa = sigmoid(logits[a]);
    const double pb = sigmoid(logits[b] + nade[b * kKeys + a] * xa);
    const double pc = sigmoid(logits[c] + nade[c * kKeys + a] * xa + nade[c * kKeys + b] * xb);
    expected[static_cast<std::size_t>(bits)] = (xa > 0 ? pa : 1 - pa) * (xb > 0 ? pb : 1 - pb) * (xc > 0 ? pc : 1 - pc);
  }
  constexpr int kFrames = 40'000;
  std::array<int, 8> seen{};
  for (int i = 0; i < kFrames; ++i) {
    const Frame f = s.sample_frame(logits, nade);
    Frame outside = f;
    outside.reset(a).reset(b).reset(c);
    REQUIRE(outside.none());
    ++seen[static_cast<std::size_t>(int(f[a]) | int(f[b]) << 1 | int(f[c]) << 2)];
  }
  for (std::size_t bits = 0; bits < 8; ++bits) {
    const double p = expected[bits], got = static_cast<double>(seen[bits]) / kFrames;
    CAPTURE(bits, p, got);
    CHECK(std::abs(got - p) < 4 * std::sqrt(p * (1 - p) / kFrames) + 1e-3);
  }
  // And one conditional read straight off: P(c | a, not b) = sigmoid(0.2 - 3).
  const double c_given_a_not_b = static_cast<double>(seen[0b101]) / (seen[0b001] + seen[0b101]);
  CHECK(c_given_a_not_b == Approx(sigmoid(0.2 - 3.0)).margin(0.02));
}
