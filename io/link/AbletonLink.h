// The Ableton Link session of [clock] source = "link": joins it on every
// network interface (Link's discovery multicasts on each one) and gives the
// engine thread its timeline (engine/live/LinkTimeline.h).
//
// Threads: built, enabled and destroyed on the control thread; capture() and
// propose_tempo() on the engine thread only, through Link's audio-thread API
// (captureAudioSessionState / commitAudioSessionState: real-time safe, no
// locks, and not thread-safe, hence one thread). peers() on any thread.
// Link runs its own network thread inside.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/live/LinkTimeline.h"

namespace nextbeat::io {

class AbletonLink final : public engine::LinkTimeline {
 public:
  // `tempo_bpm`: the tempo of a session nextbeat starts itself (no peer
  // yet); joining a session takes the session's. `quantum`: beats per bar,
  // the phase nextbeat's bars align to. Joins at once. Throws
  // std::runtime_error if Link cannot start.
  AbletonLink(double tempo_bpm, int quantum, bool start_stop_sync);
  ~AbletonLink() override;  // leaves the session
  AbletonLink(const AbletonLink&) = delete;
  AbletonLink& operator=(const AbletonLink&) = delete;

  engine::LinkSnapshot capture(std::int64_t now_ns) noexcept override;
  void propose_tempo(double bpm, std::int64_t at_ns) noexcept override;

  std::size_t peers() const noexcept;
  // The steady clock minus Link's clock (ns), as measured now: Link's clock
  // is CLOCK_MONOTONIC_RAW on Linux, the steady clock CLOCK_MONOTONIC; they
  // drift apart by NTP's slewing, so it is measured at every capture.
  static std::int64_t steady_minus_link_ns() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nextbeat::io
