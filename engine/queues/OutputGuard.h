// Pushing the engine's output into a bounded queue without ever losing the
// end of a note. When the queue is full, a note-off or an all-notes-off is
// owed: remembered in a fixed table (16 channels x 128 keys, and one flag for
// all-notes-off) and pushed, before anything else, as soon as there is room.
// A note-on (or a beat, a clock tick) that finds the queue full, or finds
// ends still owed, is dropped and counted: a note not started cannot hang, a
// note not ended does; and a note-on never overtakes an owed note-off.
#pragma once

#include <array>
#include <atomic>
#include <bitset>
#include <cstdint>

#include "engine/queues/LiveEvent.h"
#include "engine/queues/SpscQueue.h"

namespace nextbeat::engine {

// called on: the producer thread only. real-time safe: no allocation, no lock.
class OutputGuard {
 public:
  explicit OutputGuard(SpscQueue<OutputEvent>& queue) noexcept : queue_(queue) {}

  // Returns whether the event is in the queue or owed (always true for a
  // note-off and an all-notes-off); false when it was dropped.
  bool push(const OutputEvent& event) noexcept {
    if (!flush()) return owe(event);
    if (queue_.try_push(event)) return true;
    return owe(event);
  }
  // Pushes what is owed; true when nothing is owed any more. Call it on
  // every turn of the producer, so that owed ends go out without waiting for
  // the next event.
  bool flush() noexcept {
    if (!all_off_owed_ && owed_count_ == 0) return true;
    if (all_off_owed_) {
      if (!queue_.try_push(OutputEvent{.time_ns = all_off_time_ns_, .kind = OutputKind::kAllNotesOff})) return false;
      all_off_owed_ = false;
    }
    for (std::size_t i = 0; i < owed_.size() && owed_count_ > 0; ++i) {
      if (!owed_.test(i)) continue;
      const OutputEvent off{.time_ns = owed_time_ns_[i],
                            .kind = OutputKind::kNoteOff,
                            .channel = static_cast<std::uint8_t>(i / 128),
                            .pitch = static_cast<std::uint8_t>(i % 128)};
      if (!queue_.try_push(off)) return false;
      owed_.reset(i);
      --owed_count_;
    }
    return true;
  }
  bool owes() const noexcept { return all_off_owed_ || owed_count_ > 0; }
  // called on: any thread.
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  bool owe(const OutputEvent& event) noexcept {
    // A retune that cannot go (LiveEvent.h): the note it names may be one
    // whose note-off will come under the new pitch, so the old one would
    // hang. Every note ends instead: a gap, never a stuck note.
    if (event.kind == OutputKind::kAllNotesOff || event.kind == OutputKind::kRetune) {
      // Ends every note: the owed note-offs go with it.
      owed_.reset();
      owed_count_ = 0;
      all_off_owed_ = true;
      all_off_time_ns_ = event.time_ns;
      return true;
    }
    if (event.kind == OutputKind::kNoteOff) {
      const std::size_t i = std::size_t{event.channel & 15u} * 128 + (event.pitch & 127u);
      if (!owed_.test(i)) {
        owed_.set(i);
        ++owed_count_;
      }
      owed_time_ns_[i] = event.time_ns;
      return true;
    }
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  SpscQueue<OutputEvent>& queue_;
  std::bitset<16 * 128> owed_;
  std::size_t owed_count_ = 0;
  bool all_off_owed_ = false;
  std::int64_t all_off_time_ns_ = 0;
  std::array<std::int64_t, 16 * 128> owed_time_ns_{};  // when each owed note-off was due
  std::atomic<std::uint64_t> dropped_{0};              // read by the status report on another thread
};

}  // namespace nextbeat::engine
