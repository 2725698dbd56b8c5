// Test doubles for the live engine and the output timetable: a clock the
// test moves, and a sink that records what reached "the synth".
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "config/Config.h"
#include "config/Controls.h"
#include "engine/live/LiveEngine.h"
#include "engine/live/OutputScheduler.h"
#include "engine/model/Model.h"
#include "engine/queues/LiveEvent.h"

namespace nextbeat::test {

// Starts at 1 s; moves only when the test says, and by cost_per_call() at
// every look (a slow machine: every look at the clock costs time).
class FakeClock final : public engine::Clock {
 public:
  static constexpr std::int64_t kStartNs = 1'000'000'000;

  std::int64_t now_ns() const noexcept override {
    t_ += per_call_;
    return t_;
  }
  std::int64_t t() const { return t_; }
  void set(std::int64_t t) { t_ = t; }
  void advance(std::int64_t ns) { t_ += ns; }
  void cost_per_call(std::int64_t ns) { per_call_ = ns; }

 private:
  mutable std::int64_t t_ = kStartNs;
  std::int64_t per_call_ = 0;
};

// Every event as played, what is sounding (channel, pitch), and the beats.
// Allocates: not for the allocation tests.
struct Recorder final : engine::OutputSink {
  void emit(const engine::OutputEvent& e) noexcept override {
    events.push_back(e);
    const auto key = std::pair{e.channel, e.pitch};
    if (e.kind == engine::OutputKind::kNoteOn) sounding[key] = true;
    if (e.kind == engine::OutputKind::kNoteOff) sounding.erase(key);
    if (e.kind == engine::OutputKind::kBeat) ++beats;
  }
  std::size_t notes_on() const {
    return static_cast<std::size_t>(std::count_if(events.begin(), events.end(),
                                                  [](const auto& e) { return e.kind == engine::OutputKind::kNoteOn; }));
  }
  std::vector<engine::OutputEvent> events;
  std::map<std::pair<int, int>, bool> sounding;
  int beats = 0;
};

// The live engine as the daemon runs it, on a fake clock: engine -> the output
// thread's timetable (OutputScheduler) -> a Recorder, as the engine and output
// threads do. Time moves in 1 ms steps, with the engine woken when it asks.
struct LiveRig {
  explicit LiveRig(const config::Config& config, const char* model = "default:events") {
    engine = std::make_unique<engine::LiveEngine>(
        std::make_unique<engine::LstmModel>(engine::LstmModel::load(engine::resolve_model_path(model))), config,
        to_scheduler, clock);
  }
  struct ToScheduler final : engine::OutputSink {
    explicit ToScheduler(LiveRig& r) : rig(r) {}
    void emit(const engine::OutputEvent& e) noexcept override { rig.scheduler.add(e, rig.clock.t()); }
    LiveRig& rig;
  };

  void run_until(std::int64_t until) {
    while (clock.t() < until) {
      clock.set(std::min(until, clock.t() + kMillisecond));
      engine->advance();
      scheduler.play_due(clock.t());
    }
  }
  // `e` now: handled, then one turn of the engine and the timetable.
  void input(engine::InputEvent e) {
    e.time_ns = clock.t();
    engine->handle(e);
    engine->advance();
    scheduler.play_due(clock.t());
  }
  void input(engine::InputKind kind, int a = 0, int b = 0) {
    input(engine::InputEvent{.kind = kind, .a = static_cast<std::int16_t>(a), .b = static_cast<std::int16_t>(b)});
  }
  void control(config::Control id, double value) {
    input(engine::InputEvent{
        .kind = engine::InputKind::kControl, .control = static_cast<std::uint8_t>(id), .value = value});
  }
  // A C-major phrase of quarter notes at 120 bpm (500 ms a beat), `beats` long.
  void play_phrase(int beats) {
    static constexpr int kPitches[] = {60, 64, 67, 72, 67, 64, 62, 65, 69, 71};
    for (int i = 0; i < beats; ++i) {
      const int p = kPitches[i % 10];
      input(engine::InputKind::kNoteOn, p, 90);
      run_until(clock.t() + 400 * kMillisecond);
      input(engine::InputKind::kNoteOff, p);
      run_until(clock.t() + 100 * kMillisecond);
    }
  }

  static constexpr std::int64_t kMillisecond = 1'000'000;
  FakeClock clock;
  Recorder recorder;
  engine::OutputScheduler scheduler{recorder};
  ToScheduler to_scheduler{*this};
  std::unique_ptr<engine::LiveEngine> engine;
};

}  // namespace nextbeat::test
