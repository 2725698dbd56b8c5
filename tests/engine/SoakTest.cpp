// The soak (issue 12): 100,000 beats of the real live engine on a fake clock
// that runs as fast as the engine can, with a random performer, random
// control changes (every control of the table, mode and channel switches,
// panic, reset, tempo), model swaps between the two bundled codecs, SIGHUP
// reconfigures and bursts of 2,000 inputs in one turn. What must hold:
// no note sounds longer than the longest max_note_beats allows at the
// slowest tempo, nothing is left sounding at the end, and the resident
// memory after warm-up stays flat. NEXTBEAT_SOAK_BEATS overrides the length.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <utility>

#include "engine/live/LiveEngine.h"
#include "engine/live/OutputScheduler.h"
#include "engine/model/Model.h"

#include <catch2/catch.hpp>

#include "LiveFakes.h"
#include "config/Config.h"
#include "config/Controls.h"

using namespace nextbeat;
using namespace nextbeat::engine;

namespace {

constexpr std::int64_t kMs = 1'000'000;

// What reaches "the synth": only what is sounding and since when (the soak
// must not grow memory of its own), the longest note and the beats.
struct SoundingSink final : OutputSink {
  void emit(const OutputEvent& e) noexcept override {
    const int key = e.channel * 128 + e.pitch;
    if (e.kind == OutputKind::kNoteOn) {
      if (started[key] < 0) ++sounding;
      started[key] = e.time_ns;
      ++notes;
    } else if (e.kind == OutputKind::kNoteOff) {
      end(key, e.time_ns);
    } else if (e.kind == OutputKind::kAllNotesOff) {
      for (int k = 0; k < 16 * 128; ++k) end(k, e.time_ns);
    } else if (e.kind == OutputKind::kBeat) {
      ++beats;
    }
  }
  void end(int key, std::int64_t t) {
    if (started[key] < 0) return;
    longest_ns = std::max(longest_ns, t - started[key]);
    started[key] = -1;
    --sounding;
  }
  // The longest a note still sounding has sounded so far.
  std::int64_t longest_open_ns(std::int64_t now) const {
    std::int64_t longest = 0;
    for (const auto s : started)
      if (s >= 0) longest = std::max(longest, now - s);
    return longest;
  }
  SoundingSink() { started.fill(-1); }
  std::array<std::int64_t, 16 * 128> started{};
  int sounding = 0;
  std::int64_t longest_ns = 0;
  std::int64_t notes = 0;
  std::int64_t beats = 0;
};

long resident_kb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace

TEST_CASE("soak: 100,000 beats of random controls, swaps and floods leave no note on and memory flat", "[soak][live]") {
  const char* env = std::getenv("NEXTBEAT_SOAK_BEATS");
  const std::int64_t target_beats = env != nullptr ? std::atoll(env) : 100'000;
  config::Config config;
  config.engine.mode = config::Mode::kAccompany;
  config.sampling.seed = 11;
  config.engine.latency_budget_ms = 50;  // the fake clock stands still while the model computes
  test::FakeClock clock;
  SoundingSink sink;
  OutputScheduler scheduler(sink);
  struct ToScheduler final : OutputSink {
    ToScheduler(OutputScheduler& s, test::FakeClock& c) : scheduler(s), clock(c) {}
    void emit(const OutputEvent& e) noexcept override { scheduler.add(e, clock.t()); }
    OutputScheduler& scheduler;
    test::FakeClock& clock;
  } to_scheduler(scheduler, clock);
  const char* kModels[] = {"default:events", "default:pianoroll"};
  auto engine = std::make_unique<LiveEngine>(
      std::make_unique<LstmModel>(LstmModel::load(resolve_model_path(kModels[0]))), config, to_scheduler, clock);

  // The bound on a note's length: the longest max_note_beats at the slowest
  // tempo, and a beat of slack for the scheduler's release.
  const auto& max_note = config::control_spec(config::Control::kMaxNoteBeats);
  const auto& tempo = config::control_spec(config::Control::kTempo);
  const std::int64_t longest_allowed_ns =
      static_cast<std::int64_t>((max_note.max + 1) * 60.0 / tempo.min * 1e9) + 1000 * kMs;

  std::mt19937_64 rng(20261130);
  const auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const auto input = [&](InputKind kind, int a, int b, std::uint8_t control = 0, double value = 0) {
    engine->handle(InputEvent{.time_ns = clock.t(),
                              .kind = kind,
                              .control = control,
                              .a = static_cast<std::int16_t>(a),
                              .b = static_cast<std::int16_t>(b),
                              .value = value});
  };
  const auto random_control = [&] {
    const auto specs = config::control_specs();
    const auto& spec = specs[std::uniform_int_distribution<std::size_t>(0, specs.size() - 1)(rng)];
    // Tempo and latency stay where a soak of 100,000 beats finishes in minutes.
    if (spec.id == config::Control::kTempo || spec.id == config::Control::kLatencyBudgetMs) return;
    const double value = std::uniform_real_distribution<double>(spec.min, spec.max)(rng);
    input(InputKind::kControl, 0, 0, static_cast<std::uint8_t>(spec.id), value);
  };

  std::int64_t last_beat_seen = 0;
  std::int64_t swaps = 0, reconfigures = 0, floods = 0, controls = 0;
  long rss_warm = 0;
  int held = -1;
  while (sink.beats < target_beats) {
    // Time moves to the engine's next deadline (at most 20 ms on).
    clock.set(std::max(clock.t() + 1, std::min(engine->next_wakeup_ns(), clock.t() + 20 * kMs)));
    engine->advance();
    scheduler.play_due(clock.t());
    if (sink.beats == last_beat_seen) continue;
    last_beat_seen = sink.beats;

    // Once a beat, the performer and the knobs.
    if (held >= 0 && chance(0.6)) {
      input(InputKind::kNoteOff, held, 0);
      held = -1;
    }
    if (held < 0 && chance(0.5)) {
      held = std::uniform_int_distribution<int>(36, 96)(rng);
      input(InputKind::kNoteOn, held, std::uniform_int_distribution<int>(1, 127)(rng));
    }
    if (chance(0.05)) {
      random_control();
      ++controls;
    }
    if (chance(0.001)) {  // a flood: 2,000 inputs in one turn
      for (int i = 0; i < 1000; ++i) {
        const int pitch = std::uniform_int_distribution<int>(0, 127)(rng);
        input(InputKind::kNoteOn, pitch, 64);
        input(InputKind::kNoteOff, pitch, 0);
      }
      ++floods;
    }
    if (sink.beats % 10'000 == 5'000) {  // a model swap, the other codec
      auto old = engine->swap_model(prepare_model_swap(
          std::make_unique<LstmModel>(LstmModel::load(resolve_model_path(kModels[(swaps + 1) % 2])))));
      ++swaps;
    }
    (void)engine->take_replaced_model();  // a bar-quantised swap's old parts, once it landed
    if (sink.beats % 7'000 == 0) {        // SIGHUP: the config file's values again
      auto old = engine->reconfigure(std::make_unique<config::LiveSettings>(config::live_settings(config)));
      ++reconfigures;
    }
    if (sink.beats % 1'000 == 0) {
      INFO("beat " << sink.beats);
      REQUIRE(sink.longest_ns <= longest_allowed_ns);
      REQUIRE(sink.longest_open_ns(clock.t()) <= longest_allowed_ns);
    }
    if (sink.beats == std::min<std::int64_t>(20'000, target_beats / 5)) rss_warm = resident_kb();
  }
  if (held >= 0) input(InputKind::kNoteOff, held, 0);
  const long rss_end = resident_kb();
  engine->stop();
  for (int i = 0; i < 20'000; ++i) {
    clock.advance(kMs);
    engine->advance();
    scheduler.play_due(clock.t());
  }
  const auto& stats = engine->stats();
  std::printf(
      "soak: %lld beats, %lld notes, %lld controls, %lld swaps, %lld reconfigures, %lld floods; "
      "longest note %.1f s (bound %.1f s); %lld misses; RSS %ld -> %ld kB\n",
      static_cast<long long>(sink.beats), static_cast<long long>(sink.notes), static_cast<long long>(controls),
      static_cast<long long>(swaps), static_cast<long long>(reconfigures), static_cast<long long>(floods),
      sink.longest_ns / 1e9, longest_allowed_ns / 1e9, static_cast<long long>(stats.misses.load()), rss_warm, rss_end);
  CHECK(sink.notes > target_beats / 10);  // it played throughout (mute, pitch ranges and density thin it)
  CHECK(sink.sounding == 0);
  CHECK(sink.longest_ns <= longest_allowed_ns);
  CHECK(rss_end - rss_warm < 16 * 1024);
}
