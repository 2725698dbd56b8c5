// Every control of the live table (config/Controls.cpp) is tested by what it
// does to the music, not by the value it stores: the generator or the live
// engine (fake clock, seeded, bundled models) runs at two or three settings
// and the measured effect (notes per beat, pitch-class entropy, repeated
// pitches, velocity, range, in-key ratio, timing) must move the right way and
// by enough. README "What each control changes" names the test of each; the
// controls with no test here say why there.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "LiveFakes.h"
#include "config/Config.h"
#include "config/Controls.h"
#include "engine/codec/Codec.h"
#include "engine/live/LiveEngine.h"
#include "engine/live/OutputScheduler.h"
#include "engine/model/BundledModels.h"
#include "engine/model/Model.h"
#include "engine/music/MidiFile.h"
#include "engine/music/MusicTheory.h"
#include "engine/offline/Generator.h"

using namespace nextbeat;
using namespace nextbeat::engine;

namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kBeatNs = 500 * kMs;  // 120 bpm

// A played note: what the measures below need.
struct Played {
  double beat = 0;  // onset, beats
  double length = 0;
  int pitch = 0;
  int velocity = 0;
  int channel = 0;
};

struct Take {
  std::vector<Played> notes;
  double beats = 0;  // the span they were played over
};

double notes_per_beat(const Take& t) {
  return t.beats > 0 ? static_cast<double>(t.notes.size()) / t.beats : 0;
}

// Shannon entropy of the onsets' pitch classes, bits (0..log2 12).
double pitch_class_entropy(const Take& t) {
  std::array<double, 12> count{};
  for (const auto& n : t.notes) count[static_cast<std::size_t>(n.pitch % 12)] += 1;
  double h = 0;
  for (double c : count)
    if (c > 0) {
      const double p = c / static_cast<double>(t.notes.size());
      h -= p * std::log2(p);
    }
  return h;
}

// The share of onsets whose pitch was one of the 8 onsets before (the
// repetition penalty looks back 16 notes).
double repeated_pitch_rate(const Take& t) {
  std::vector<Played> notes = t.notes;
  std::stable_sort(notes.begin(), notes.end(), [](const auto& a, const auto& b) { return a.beat < b.beat; });
  int repeats = 0;
  for (std::size_t i = 1; i < notes.size(); ++i)
    for (std::size_t j = i > 8 ? i - 8 : 0; j < i; ++j)
      if (notes[j].pitch == notes[i].pitch) {
        ++repeats;
        break;
      }
  return notes.size() > 1 ? repeats / static_cast<double>(notes.size() - 1) : 0;
}

double mean_velocity(const Take& t) {
  double sum = 0;
  for (const auto& n : t.notes) sum += n.velocity;
  return t.notes.empty() ? 0 : sum / static_cast<double>(t.notes.size());
}

double in_key_ratio(const Take& t, int key, ScaleKind scale) {
  const auto in =
      std::count_if(t.notes.begin(), t.notes.end(), [&](const auto& n) { return in_scale(n.pitch, key, scale); });
  return t.notes.empty() ? 0 : static_cast<double>(in) / static_cast<double>(t.notes.size());
}

std::pair<int, int> pitch_span(const Take& t) {
  int lo = 127, hi = 0;
  for (const auto& n : t.notes) {
    lo = std::min(lo, n.pitch);
    hi = std::max(hi, n.pitch);
  }
  return {lo, hi};
}

Take merge(const std::vector<Take>& takes) {
  Take all;
  for (const auto& t : takes) {
    all.notes.insert(all.notes.end(), t.notes.begin(), t.notes.end());
    all.beats += t.beats;
  }
  return all;
}

// ---- The generator ------------------------------------------------------------------

// A JSB chorale in tests/data continued for 32 beats, once per seed.
Take generate(const char* model_name, SamplingControls controls, double velocity_scale = 1.0,
              std::vector<std::uint64_t> seeds = {1, 2, 3, 4, 5, 6, 7, 8}) {
  static std::map<std::string, std::unique_ptr<LstmModel>> models;
  auto& model = models[model_name];
  if (!model) model = std::make_unique<LstmModel>(LstmModel::load(resolve_model_path(model_name)));
  const auto codec = make_codec(model->spec().codec);
  const Score prime =
      prime_for(*model, read_midi_file(std::string(NEXTBEAT_TEST_DATA) + "/jsb_chorales/test/test_001.mid"));
  std::vector<Take> takes;
  for (std::uint64_t seed : seeds) {
    GenerateOptions o;
    o.beats = 32;
    o.controls = controls;
    o.controls.seed = seed;
    o.max_voices = 0;  // each control on its own: the voice cap has its own test
    o.velocity_scale = velocity_scale;
    const Continuation c = continue_score(*model, *codec, prime, o);
    Take t;
    t.beats = o.beats;
    for (const Note& n : c.score.notes)
      if (n.source == 1) t.notes.push_back(Played{n.start_beat, n.end_beat - n.start_beat, n.pitch, n.velocity, 0});
    takes.push_back(t);
  }
  return merge(takes);
}

// ---- The live engine ------------------------------------------------------------------

using test::FakeClock;
using test::Recorder;

// The shared rig (LiveFakes.h), and what these tests ask of it.
struct Stage : test::LiveRig {
  Stage(const config::Config& config, const char* model) : LiveRig(config, model) {}
  void note(int pitch, int velocity) {
    input(InputEvent{.kind = velocity > 0 ? InputKind::kNoteOn : InputKind::kNoteOff,
                     .a = static_cast<std::int16_t>(pitch),
                     .b = static_cast<std::int16_t>(velocity)});
  }
  void cc(int number, int value) {
    input(InputEvent{.kind = InputKind::kControlChange,
                     .a = static_cast<std::int16_t>(number),
                     .b = static_cast<std::int16_t>(value)});
  }
  void phrase(int beats) { play_phrase(beats); }
  // nextbeat's notes that started in [from, to) ns, with their lengths.
  Take own_notes(std::int64_t from, std::int64_t to) const {
    Take t;
    t.beats = static_cast<double>(to - from) / static_cast<double>(kBeatNs);
    std::map<std::pair<int, int>, std::size_t> open;
    for (const auto& e : recorder.events) {
      const auto key = std::pair{static_cast<int>(e.channel), static_cast<int>(e.pitch)};
      if (e.kind == OutputKind::kNoteOn && e.time_ns >= from && e.time_ns < to) {
        open[key] = t.notes.size();
        t.notes.push_back(Played{static_cast<double>(e.time_ns - from) / kBeatNs, 0, e.pitch, e.velocity, e.channel});
      } else if (e.kind == OutputKind::kNoteOff || e.kind == OutputKind::kNoteOn) {
        if (auto it = open.find(key); it != open.end() && e.kind == OutputKind::kNoteOff) {
          auto& n = t.notes[it->second];
          n.length = static_cast<double>(e.time_ns - from) / kBeatNs - n.beat;
          open.erase(it);
        }
      }
    }
    return t;
  }
};

config::Config live_config(config::Mode mode, std::uint64_t seed) {
  config::Config c;
  c.engine.mode = mode;
  c.engine.gap_beats = 2.0;
  c.engine.response_beats = 4;
  c.engine.max_note_beats = 2.0;
  c.engine.latency_budget_ms = 50;  // the fake clock stands still while the model computes
  c.sampling.seed = static_cast<std::int64_t>(seed);
  // Each control is measured on its own; chord following and the voice cap
  // (on by default) have their own tests and figures (HarmonyLiveTest,
  // engine_harmony_measure; max_voices below).
  c.sampling.chord_follow = 0;
  c.engine.max_voices = 0;
  return c;
}

// What nextbeat plays in each mode, over a scripted performance:
// accompany: along a 16-beat phrase; continue: the 16 beats after an 8-beat
// phrase; call-response: its answers to four 4-beat phrases, 8 beats apart.
Take perform(config::Config c, const char* model = "default:events") {
  Stage s(c, model);
  switch (c.engine.mode) {
    case config::Mode::kAccompany: {
      s.phrase(2);
      const std::int64_t from = s.clock.t();
      s.phrase(16);
      return s.own_notes(from, s.clock.t());
    }
    case config::Mode::kContinue: {
      s.phrase(8);
      const std::int64_t from = s.clock.t();
      s.run_until(from + 16 * kBeatNs);
      return s.own_notes(from, s.clock.t());
    }
    case config::Mode::kCallResponse: {
      Take all;
      for (int i = 0; i < 4; ++i) {
        s.phrase(4);
        const std::int64_t from = s.clock.t();
        s.run_until(from + 8 * kBeatNs);
        Take answer = s.own_notes(from, s.clock.t());
        answer.beats = c.engine.response_beats;  // it answers for response_beats beats
        all = merge({all, answer});
      }
      return all;
    }
  }
  return {};
}

Take perform_seeds(config::Config c, const char* model = "default:events") {
  std::vector<Take> takes;
  for (std::uint64_t seed : {1, 2, 3, 4, 5, 6}) {
    c.sampling.seed = static_cast<std::int64_t>(seed);
    takes.push_back(perform(c, model));
  }
  return merge(takes);
}

}  // namespace

// ---- Density: notes per beat, times the model's own -------------------------------------

TEST_CASE("density scales the notes generated per beat, both codecs", "[unit][controls]") {
  for (const char* model : {"default:events", "default:pianoroll"}) {
    SamplingControls c;
    c.density = 1.0;
    const double base = notes_per_beat(generate(model, c));
    c.density = 0.25;
    const double quarter = notes_per_beat(generate(model, c));
    c.density = 2.0;
    const double twice = notes_per_beat(generate(model, c));
    INFO(model << ": notes per beat at density 0.25 / 1 / 2: " << quarter << " / " << base << " / " << twice);
    REQUIRE(base > 1.0);
    CHECK(quarter / base == Approx(0.25).margin(0.1));
    CHECK(twice / base == Approx(2.0).margin(0.5));
    c.density = 0;
    CHECK(generate(model, c).notes.empty());
  }
}

TEST_CASE("density scales the notes played live per beat, in every mode and both codecs", "[unit][controls][live]") {
  struct Case {
    config::Mode mode;
    const char* model;
  };
  for (const Case k :
       {Case{config::Mode::kAccompany, "default:events"}, Case{config::Mode::kContinue, "default:events"},
        Case{config::Mode::kCallResponse, "default:events"}, Case{config::Mode::kContinue, "default:pianoroll"}}) {
    config::Config c = live_config(k.mode, 1);
    c.sampling.density = 1.0;
    const double base = notes_per_beat(perform_seeds(c, k.model));
    c.sampling.density = 0.25;
    const double quarter = notes_per_beat(perform_seeds(c, k.model));
    c.sampling.density = 2.0;
    const double twice = notes_per_beat(perform_seeds(c, k.model));
    INFO("mode " << static_cast<int>(k.mode) << ", " << k.model
                 << ": notes per beat at density 0.25 / 1 / 2: " << quarter << " / " << base << " / " << twice);
    REQUIRE(base > 0.5);
    CHECK(quarter / base == Approx(0.25).margin(0.12));
    CHECK(twice / base == Approx(2.0).margin(0.6));
  }
}

// ---- The sampling controls, on the generator ---------------------------------------------

TEST_CASE("temperature: colder keeps to the likeliest pitches, hotter spreads them", "[unit][controls]") {
  SamplingControls c;
  c.temperature = 0.3;
  const Take cold = generate("default:events", c);
  c.temperature = 1.0;
  const Take warm = generate("default:events", c);
  c.temperature = 2.0;
  const Take hot = generate("default:events", c);
  INFO("pitch-class entropy at 0.3 / 1 / 2: " << pitch_class_entropy(cold) << " / " << pitch_class_entropy(warm)
                                              << " / " << pitch_class_entropy(hot));
  INFO("in D major (the prime's key) at 0.3 / 1 / 2: " << in_key_ratio(cold, 2, ScaleKind::kMajor) << " / "
                                                       << in_key_ratio(warm, 2, ScaleKind::kMajor) << " / "
                                                       << in_key_ratio(hot, 2, ScaleKind::kMajor));
  INFO("repeated pitches at 0.3 / 1 / 2: " << repeated_pitch_rate(cold) << " / " << repeated_pitch_rate(warm) << " / "
                                           << repeated_pitch_rate(hot));
  // Near the 12-class ceiling (3.58 bits) entropy saturates: above 1 the
  // spread shows in fewer repeated pitches.
  CHECK(pitch_class_entropy(warm) > pitch_class_entropy(cold) + 0.2);
  CHECK(pitch_class_entropy(hot) > pitch_class_entropy(cold) + 0.2);
  // The bundled model, 8 seeds: 0.76 in key at 0.3, 0.69 at 1 (2026-12).
  CHECK(in_key_ratio(cold, 2, ScaleKind::kMajor) > in_key_ratio(warm, 2, ScaleKind::kMajor) + 0.05);
  CHECK(repeated_pitch_rate(cold) > repeated_pitch_rate(warm) + 0.04);
  CHECK(repeated_pitch_rate(hot) < repeated_pitch_rate(warm) - 0.02);
}

namespace {

// How many different continuations `seeds` seeds give.
std::size_t distinct_continuations(SamplingControls c, std::vector<std::uint64_t> seeds = {1, 2, 3, 4}) {
  std::vector<std::vector<int>> outs;
  for (std::uint64_t seed : seeds) {
    std::vector<int> p;
    for (const auto& n : generate("default:events", c, 1.0, {seed}).notes) p.push_back(n.pitch);
    outs.push_back(p);
  }
  std::sort(outs.begin(), outs.end());
  return static_cast<std::size_t>(std::unique(outs.begin(), outs.end()) - outs.begin());
}

}  // namespace

TEST_CASE("top_k and top_p: fewer choices, fewer pitch classes, at the limit every seed plays the same",
          "[unit][controls]") {
  SamplingControls c;
  const Take all = generate("default:events", c);
  c.top_k = 1;
  const Take k1 = generate("default:events", c);
  const std::size_t k1_distinct = distinct_continuations(c);
  c.top_k = 0;
  c.top_p = 0.2;
  const Take p20 = generate("default:events", c);
  c.top_p = 0.05;
  const std::size_t p05_distinct = distinct_continuations(c);
  c.top_p = 1.0;
  INFO("pitch-class entropy: all " << pitch_class_entropy(all) << ", top_k 1 " << pitch_class_entropy(k1)
                                   << ", top_p 0.2 " << pitch_class_entropy(p20));
  INFO("in D major: all " << in_key_ratio(all, 2, ScaleKind::kMajor) << ", top_k 1 "
                          << in_key_ratio(k1, 2, ScaleKind::kMajor) << ", top_p 0.2 "
                          << in_key_ratio(p20, 2, ScaleKind::kMajor));
  REQUIRE(!k1.notes.empty());
  REQUIRE(!p20.notes.empty());
  CHECK(pitch_class_entropy(k1) < pitch_class_entropy(all) - 0.4);
  CHECK(pitch_class_entropy(p20) < pitch_class_entropy(all) - 0.3);
  CHECK(in_key_ratio(k1, 2, ScaleKind::kMajor) > in_key_ratio(all, 2, ScaleKind::kMajor) + 0.05);
  CHECK(in_key_ratio(p20, 2, ScaleKind::kMajor) > in_key_ratio(all, 2, ScaleKind::kMajor) + 0.05);
  CHECK(distinct_continuations(c) == 4);
  CHECK(k1_distinct == 1);  // greedy: the seed no longer matters
  CHECK(p05_distinct == 1);
}

TEST_CASE("top_k on the pianoroll codec: at most k keys start together", "[unit][controls]") {
  SamplingControls c;
  const auto most_at_once = [](const Take& t) {
    std::map<double, int> at;
    int most = 0;
    for (const auto& n : t.notes) most = std::max(most, ++at[n.beat]);
    return most;
  };
  for (std::uint64_t seed : {1, 2, 3}) {
    c.top_k = 0;
    const Take all = generate("default:pianoroll", c, 1.0, {seed});
    c.top_k = 2;
    const Take k2 = generate("default:pianoroll", c, 1.0, {seed});
    INFO("seed " << seed << ", most notes starting together: all " << most_at_once(all) << ", top_k 2 "
                 << most_at_once(k2));
    CHECK(most_at_once(all) > 2);
    CHECK(most_at_once(k2) <= 2);
    CHECK(!k2.notes.empty());
  }
}

TEST_CASE("key and scale: every note in the chosen key and scale", "[unit][controls]") {
  SamplingControls c;
  const Take free = generate("default:events", c);
  c.key = 6;  // F#, far from the prime's D major
  c.scale = ScaleKind::kMajor;
  const Take fsharp = generate("default:events", c);
  c.key = 2;
  c.scale = ScaleKind::kPentatonic;
  const Take pentatonic = generate("default:events", c);
  INFO("in F# major: free " << in_key_ratio(free, 6, ScaleKind::kMajor) << ", key F# "
                            << in_key_ratio(fsharp, 6, ScaleKind::kMajor));
  INFO("in D pentatonic: free " << in_key_ratio(free, 2, ScaleKind::kPentatonic) << ", D pentatonic "
                                << in_key_ratio(pentatonic, 2, ScaleKind::kPentatonic));
  REQUIRE(!fsharp.notes.empty());
  REQUIRE(!pentatonic.notes.empty());
  CHECK(in_key_ratio(free, 6, ScaleKind::kMajor) < 0.7);
  CHECK(in_key_ratio(fsharp, 6, ScaleKind::kMajor) == 1.0);
  CHECK(in_key_ratio(free, 2, ScaleKind::kPentatonic) < 0.9);
  CHECK(in_key_ratio(pentatonic, 2, ScaleKind::kPentatonic) == 1.0);
}

TEST_CASE("repetition_penalty: fewer repeated pitches", "[unit][controls]") {
  SamplingControls c;
  const Take plain = generate("default:events", c);
  c.repetition_penalty = 3.0;
  const Take penalised = generate("default:events", c);
  c.repetition_penalty = 10.0;
  const Take most = generate("default:events", c);
  INFO("repeated-pitch rate at 1 / 3 / 10: " << repeated_pitch_rate(plain) << " / " << repeated_pitch_rate(penalised)
                                             << " / " << repeated_pitch_rate(most));
  REQUIRE(!penalised.notes.empty());
  // The bundled model, 8 seeds: 0.227 at 1, 0.193 at 3, 0.190 at 10 (2026-12).
  CHECK(repeated_pitch_rate(penalised) < repeated_pitch_rate(plain) - 0.025);
  CHECK(repeated_pitch_rate(most) < repeated_pitch_rate(plain) - 0.025);
  CHECK(pitch_class_entropy(penalised) > pitch_class_entropy(plain));
}

TEST_CASE("velocity_scale: velocities scaled", "[unit][controls]") {
  SamplingControls c;
  const double one = mean_velocity(generate("default:events", c));
  const double half = mean_velocity(generate("default:events", c, 0.5));
  INFO("mean velocity at 1 / 0.5: " << one << " / " << half);
  CHECK(half / one == Approx(0.5).margin(0.02));
}

TEST_CASE("pitch_min and pitch_max: every note in the range", "[unit][controls]") {
  for (const char* model : {"default:events", "default:pianoroll"}) {
    SamplingControls c;
    const auto [lo, hi] = pitch_span(generate(model, c));
    c.pitch_min = 60;
    c.pitch_max = 67;
    const Take narrow = generate(model, c);
    const auto [narrow_lo, narrow_hi] = pitch_span(narrow);
    INFO(model << ": pitches " << lo << ".." << hi << " free, " << narrow_lo << ".." << narrow_hi << " in 60..67");
    REQUIRE(!narrow.notes.empty());
    CHECK((lo < 60 || hi > 67));
    CHECK(narrow_lo >= 60);
    CHECK(narrow_hi <= 67);
  }
}

TEST_CASE("seed: another seed, another continuation, the same seed, the same", "[unit][controls]") {
  SamplingControls c;
  const auto pitches = [](const Take& t) {
    std::vector<std::pair<double, int>> out;
    for (const auto& n : t.notes) out.emplace_back(n.beat, n.pitch);
    return out;
  };
  CHECK(pitches(generate("default:events", c, 1.0, {1})) == pitches(generate("default:events", c, 1.0, {1})));
  CHECK(pitches(generate("default:events", c, 1.0, {1})) != pitches(generate("default:events", c, 1.0, {2})));
}

// ---- The same controls live, and the engine's own -----------------------------------------

TEST_CASE("live: velocity_scale, pitch range and key reach the notes played", "[unit][controls][live]") {
  config::Config c = live_config(config::Mode::kContinue, 1);
  const Take plain = perform(c);
  c.sampling.velocity_scale = 0.5;
  c.sampling.pitch_min = 55;
  c.sampling.pitch_max = 70;
  c.sampling.key = 6;  // F# major
  c.sampling.scale = config::Scale::kMajor;
  const Take moved = perform(c);
  const auto [lo, hi] = pitch_span(moved);
  INFO("velocity " << mean_velocity(plain) << " -> " << mean_velocity(moved) << "; pitches " << lo << ".." << hi
                   << "; in F# major " << in_key_ratio(plain, 6, ScaleKind::kMajor) << " -> "
                   << in_key_ratio(moved, 6, ScaleKind::kMajor));
  REQUIRE(!moved.notes.empty());
  CHECK(mean_velocity(moved) / mean_velocity(plain) == Approx(0.5).margin(0.05));
  CHECK(lo >= 55);
  CHECK(hi <= 70);
  CHECK(in_key_ratio(plain, 6, ScaleKind::kMajor) < 0.7);
  CHECK(in_key_ratio(moved, 6, ScaleKind::kMajor) == 1.0);
}

TEST_CASE("mode: who plays when", "[unit][controls][live]") {
  // Own notes during a 6-beat phrase, and the beats of the 8-beat pause that have any.
  const auto run = [](config::Mode mode, std::uint64_t seed) {
    config::Config c = live_config(mode, seed);
    c.engine.response_beats = 2;
    Stage s(c, "default:events");
    s.phrase(2);
    const std::int64_t phrase = s.clock.t();
    s.phrase(6);
    const std::int64_t pause = s.clock.t();
    s.run_until(pause + 8 * kBeatNs);
    const Take during = s.own_notes(phrase, pause);
    const Take after = s.own_notes(pause, s.clock.t());
    std::vector<bool> beats(8, false);
    for (const auto& n : after.notes) beats[std::min<std::size_t>(7, static_cast<std::size_t>(n.beat))] = true;
    return std::pair{during.notes.size(), std::count(beats.begin(), beats.end(), true)};
  };
  // Three seeds: a model that plays alone may wait a beat or two before it
  // answers, as the chorales' and tunes' own parts sometimes do.
  int answered = 0;
  for (const std::uint64_t seed : {1, 2, 3}) {
    INFO("seed " << seed);
    const auto [accompany_during, accompany_beats] = run(config::Mode::kAccompany, seed);
    const auto [continue_during, continue_beats] = run(config::Mode::kContinue, seed);
    const auto [answer_during, answer_beats] = run(config::Mode::kCallResponse, seed);
    INFO("accompany " << accompany_during << " notes; continue " << continue_beats << " beats, answer " << answer_beats
                      << " beats of the pause with notes");
    CHECK(accompany_during > 6);
    CHECK(continue_during == 0);
    CHECK(answer_during == 0);
    CHECK(continue_beats >= 4);  // plays on from gap_beats (2) into the pause
    CHECK(answer_beats <= 2);    // response_beats
    answered += answer_beats >= 1;
  }
  CHECK(answered >= 2);
}

TEST_CASE("gap_beats and response_beats: when continue starts, how long an answer lasts", "[unit][controls][live]") {
  const auto first_onset = [](double gap) {
    config::Config c = live_config(config::Mode::kContinue, 1);
    c.engine.gap_beats = gap;
    Stage s(c, "default:events");
    s.phrase(8);
    const std::int64_t from = s.clock.t();
    s.run_until(from + 8 * kBeatNs);
    const Take t = s.own_notes(from, s.clock.t());
    return t.notes.empty() ? 99.0 : t.notes.front().beat;
  };
  // The performer's last note-off is 0.2 beat before the pause: continue
  // starts on the first beat gap_beats after it.
  const double soon = first_onset(1.0);
  const double late = first_onset(4.0);
  INFO("first own note, beats into the pause: gap 1 -> " << soon << ", gap 4 -> " << late);
  CHECK(soon >= 0.8);
  CHECK(soon < 2.0);
  CHECK(late >= 3.8);
  CHECK(late < 5.0);

  const auto answer_beats = [](int beats) {
    config::Config c = live_config(config::Mode::kCallResponse, 1);
    c.engine.response_beats = beats;
    Stage s(c, "default:events");
    s.phrase(4);
    const auto before = s.engine->stats().predictions.load();
    s.run_until(s.clock.t() + 12 * kBeatNs);
    return s.engine->stats().predictions.load() - before;
  };
  CHECK(answer_beats(1) == 1);
  CHECK(answer_beats(6) == 6);
}

TEST_CASE("max_note_beats: no own note lasts longer", "[unit][controls][live]") {
  const auto longest = [](double max_note_beats) {
    config::Config c = live_config(config::Mode::kContinue, 1);
    c.engine.max_note_beats = max_note_beats;
    const Take t = perform_seeds(c);
    double most = 0;
    for (const auto& n : t.notes) most = std::max(most, n.length);
    return most;
  };
  const double short_notes = longest(0.5);
  const double long_notes = longest(4.0);
  INFO("longest own note: max 0.5 -> " << short_notes << ", max 4 -> " << long_notes);
  CHECK(short_notes <= 0.5 + 1e-6);
  CHECK(long_notes > 1.0);
}

TEST_CASE("max_voices: never more own notes at once, a new one ends the oldest", "[unit][controls][live]") {
  // The most of nextbeat's notes sounding at one time (a take's notes end
  // before the ones that start at the same beat).
  const auto most_at_once = [](int max_voices) {
    int most = 0;
    for (const std::uint64_t seed : {1, 2, 3}) {
      config::Config c = live_config(config::Mode::kContinue, seed);
      c.engine.max_note_beats = 8.0;
      c.engine.max_voices = max_voices;
      std::vector<std::pair<double, int>> edges;
      for (const auto& n : perform(c).notes) {
        edges.emplace_back(n.beat, 1);
        edges.emplace_back(n.beat + n.length, -1);
      }
      std::sort(edges.begin(), edges.end());
      int now = 0;
      for (const auto& [beat, step] : edges) most = std::max(most, now += step);
    }
    return most;
  };
  const int two = most_at_once(2);
  const int uncapped = most_at_once(0);
  INFO("most own notes at once: max_voices 2 -> " << two << ", no cap -> " << uncapped);
  CHECK(two <= 2);
  CHECK(two >= 1);
  CHECK(uncapped > 2);
}

TEST_CASE("tempo, channel, program and mute change what is played", "[unit][controls][live]") {
  Stage s(live_config(config::Mode::kContinue, 1), "default:events");
  s.phrase(8);
  s.run_until(s.clock.t() + 3 * kBeatNs);  // playing now
  REQUIRE(s.engine->playing());
  using config::Control;
  SECTION("tempo: the beats come at the new tempo") {
    s.control(Control::kTempo, 60);
    const int beats = s.recorder.beats;
    s.run_until(s.clock.t() + 8'000 * kMs);
    CHECK(s.recorder.beats - beats == Approx(8).margin(1));  // 8 s at 60 bpm; 16 at 120
  }
  SECTION("channel: the next notes on the new channel") {
    s.control(Control::kChannel, 5);
    const std::int64_t from = s.clock.t() + 1;  // what played at the control's own time was before it
    s.run_until(from + 4 * kBeatNs);
    const Take t = s.own_notes(from, s.clock.t());
    REQUIRE(!t.notes.empty());
    CHECK(std::all_of(t.notes.begin(), t.notes.end(), [](const auto& n) { return n.channel == 4; }));
  }
  SECTION("program: a program change on the channel") {
    s.control(Control::kProgram, 40);
    CHECK(std::any_of(s.recorder.events.begin(), s.recorder.events.end(), [](const auto& e) {
      return e.kind == OutputKind::kProgram && e.velocity == 40 && e.channel == 0;
    }));
  }
  SECTION("mute: silence until unmuted") {
    s.control(Control::kMute, 1);
    const std::int64_t from = s.clock.t() + 1;  // what played at the control's own time was before it
    s.run_until(from + 3 * kBeatNs);
    CHECK(s.own_notes(from, s.clock.t()).notes.empty());
    s.control(Control::kMute, 0);
    const std::int64_t unmuted = s.clock.t();
    s.run_until(unmuted + 3 * kBeatNs);
    CHECK(!s.own_notes(unmuted, s.clock.t()).notes.empty());
  }
  SECTION("reset: it forgets the performer and waits to hear one again") {
    s.control(Control::kReset, 1);
    const std::int64_t from = s.clock.t() + 1;  // what played at the control's own time was before it
    s.run_until(from + 4 * kBeatNs);
    CHECK(s.own_notes(from, s.clock.t()).notes.empty());
  }
}

TEST_CASE("latency_budget_ms: a budget the machine cannot meet drops beats", "[unit][controls][live]") {
  const auto misses = [](double budget_ms) {
    config::Config c = live_config(config::Mode::kContinue, 1);
    c.engine.latency_budget_ms = budget_ms;
    Stage s(c, "default:events");
    s.phrase(4);
    s.clock.cost_per_call(200'000);  // every look at the clock costs 0.2 ms: a rollout takes a few ms
    const auto before = s.engine->stats().misses.load();
    s.run_until(s.clock.t() + 4 * kBeatNs);
    return s.engine->stats().misses.load() - before;
  };
  const auto tight = misses(0.5);
  const auto ample = misses(100);
  INFO("missed beats: budget 0.5 ms -> " << tight << ", 100 ms -> " << ample);
  CHECK(tight >= 2);  // of 4 beats
  CHECK(ample == 0);
}

// ---- Over MIDI CC and OSC, while playing ------------------------------------------------

TEST_CASE("a knob moved while playing changes the next beat, over CC and over OSC", "[unit][controls][live]") {
  Stage s(live_config(config::Mode::kContinue, 1), "default:events");
  s.phrase(8);
  s.run_until(s.clock.t() + 3 * kBeatNs + kBeatNs / 2);  // mid-beat, playing
  REQUIRE(s.engine->playing());
  const auto next_beat = [&] {
    return (s.clock.t() - FakeClock::kStartNs) / kBeatNs * kBeatNs + kBeatNs + FakeClock::kStartNs;
  };
  Notification n;
  while (s.engine->pop_notification(n)) {
  }
  SECTION("density by CC ([cc] density = 22): 0 silences the next beat, the top plays again") {
    s.cc(22, 0);
    REQUIRE(s.engine->pop_notification(n));
    CHECK(n.control == config::Control::kDensity);
    CHECK(n.value == 0);
    const std::int64_t beat = next_beat();
    s.run_until(beat + 2 * kBeatNs);
    CHECK(s.own_notes(beat, s.clock.t()).notes.empty());
    s.cc(22, 127);
    const std::int64_t again = next_beat();
    s.run_until(again + kBeatNs);
    CHECK(s.own_notes(again, s.clock.t()).notes.size() >= 2);
  }
  SECTION("velocity_scale by OSC (/nextbeat/velocity_scale 0.25): the next beat is softer") {
    const std::int64_t before_from = s.clock.t() - 3 * kBeatNs;
    const double loud = mean_velocity(s.own_notes(before_from, s.clock.t()));
    s.control(config::Control::kVelocityScale, 0.25);
    REQUIRE(s.engine->pop_notification(n));
    CHECK(n.control == config::Control::kVelocityScale);
    const std::int64_t beat = next_beat();
    s.run_until(beat + 2 * kBeatNs);
    const Take soft = s.own_notes(beat, s.clock.t());
    REQUIRE(!soft.notes.empty());
    INFO("mean velocity " << loud << " -> " << mean_velocity(soft));
    CHECK(mean_velocity(soft) / loud == Approx(0.25).margin(0.08));
  }
  SECTION("pitch range by OSC: the next beat keeps inside it") {
    s.control(config::Control::kPitchMin, 72);
    s.control(config::Control::kPitchMax, 84);
    const std::int64_t beat = next_beat();
    s.run_until(beat + 2 * kBeatNs);
    const Take high = s.own_notes(beat, s.clock.t());
    REQUIRE(!high.notes.empty());
    CHECK(pitch_span(high).first >= 72);
    CHECK(pitch_span(high).second <= 84);
  }
}
