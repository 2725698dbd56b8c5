// The output thread's timetable: the engine hands over notes up to a beat
// ahead, and this plays each at its time on the outputs (MIDI, OSC) and keeps
// what is sounding, so that every note-on gets its note-off: when a note is
// cancelled (kAllNotesOff), on exit (release_all) and when the table is full.
// Also measures how late each event left (scheduled vs actual).
// Plain C++; every call is real-time safe (no allocation after construction,
// no locks). called on: the output thread only.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>

#include "engine/queues/LiveEvent.h"
#include "engine/queues/Timetable.h"

namespace nextbeat::engine {

class OutputScheduler {
 public:
  static constexpr std::size_t kCapacity = 4096;
  static constexpr std::int64_t kNever = INT64_MAX;
  // An event that would start something (a note-on, a beat, a MIDI clock)
  // and is due more than this long ago is skipped, not played late: after
  // the process was stopped (SIGSTOP, a frozen VM, a long stall), a second's
  // worth of notes would otherwise come out at once. Note-offs always play.
  static constexpr std::int64_t kStaleNs = 100'000'000;

  explicit OutputScheduler(OutputSink& out) : out_(out) {}

  // Takes an event from the engine. kAllNotesOff acts at once: pending note
  // events are dropped and every sounding note ends now. A full table drops
  // a note-on (counted) but never a note-off of a sounding note: that plays at once.
  // kRetune changes a pending note's pitch (Retune.h), or, if it has just
  // played, ends it and starts the new pitch now.
  void add(const OutputEvent& event, std::int64_t now_ns) noexcept;
  // Plays every event due at `now_ns`, in time order; skips (and counts)
  // the stale ones (kStaleNs).
  void play_due(std::int64_t now_ns) noexcept;
  // When the next pending event is due (kNever if none).
  std::int64_t next_due() const noexcept { return pending_.empty() ? kNever : pending_.front().time_ns; }
  // Ends every sounding note and drops everything pending (exit, panic).
  void release_all(std::int64_t now_ns) noexcept;

  std::size_t pending() const noexcept { return pending_.size(); }
  std::size_t sounding() const noexcept { return sounding_count_; }
  std::uint64_t dropped() const noexcept { return dropped_; }
  std::uint64_t stale() const noexcept { return stale_; }  // skipped as too late (kStaleNs)
  // Lateness of played events (actual - scheduled), in ns, for the latency report.
  std::int64_t last_lateness_ns() const noexcept { return last_lateness_ns_; }
  std::int64_t max_lateness_ns() const noexcept { return max_lateness_ns_; }

 private:
  void play(const OutputEvent& event, std::int64_t now_ns) noexcept;
  void retune(const OutputEvent& event, std::int64_t now_ns) noexcept;
  void end_sounding(std::int64_t now_ns) noexcept;

  OutputSink& out_;
  Timetable<OutputEvent, kCapacity> pending_;
  std::bitset<16 * 128> sounding_;  // channel * 128 + pitch
  std::size_t sounding_count_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t stale_ = 0;
  std::int64_t last_lateness_ns_ = 0;
  std::int64_t max_lateness_ns_ = 0;
};

}  // namespace nextbeat::engine
