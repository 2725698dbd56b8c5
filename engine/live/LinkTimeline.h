// An Ableton Link session's timeline as the engine thread sees it
// ([clock] source = "link"). io/link/AbletonLink implements it with Link's
// audio-thread API; tests use a fake. BeatClock follows it.
//
// Times here are the steady clock in ns (engine::steady_now_ns), the clock
// every event is stamped with; the implementation maps them to Link's own
// clock. They are Link's times: the output latency is BeatClock's business.
//
// Threads: every call from the engine thread only (Link's audio-thread
// capture and commit are not thread-safe, and real-time safe).
#pragma once

#include <cstdint>

namespace nextbeat::engine {

// The session's timeline at one moment: beats are the session's, with the
// bar phase of the quantum (beat % quantum == 0 on the session's bar lines).
struct LinkSnapshot {
  std::int64_t time_ns = 0;  // steady clock
  double beat = 0;           // the session's beat at time_ns
  double tempo_bpm = 120;
  bool playing = true;  // start/stop state; always true when start/stop sync is off
};

class LinkTimeline {
 public:
  virtual ~LinkTimeline() = default;
  // The session's timeline at `now_ns`. real-time safe: no allocation, no locks.
  virtual LinkSnapshot capture(std::int64_t now_ns) noexcept = 0;
  // Proposes a tempo to the session from `at_ns` on (the beat at `at_ns`
  // stays where it is). The session may be changed by another peer at once.
  // real-time safe: no allocation, no locks.
  virtual void propose_tempo(double bpm, std::int64_t at_ns) noexcept = 0;
};

}  // namespace nextbeat::engine
