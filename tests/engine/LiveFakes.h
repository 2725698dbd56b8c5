// Test doubles for the live engine and the output timetable: a clock the
// test moves, and a sink that records what reached "the synth".
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "engine/live/LiveEngine.h"
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

}  // namespace nextbeat::test
