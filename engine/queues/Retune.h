// Applying a kRetune (LiveEvent.h) to a timetable of pending output events:
// the one piece of logic the output thread's OutputScheduler and the audio
// output's callback share. real-time safe: no allocation, no lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/queues/LiveEvent.h"

namespace nextbeat::engine {

inline constexpr std::int64_t kRetuneSlackNs = 1'000'000;  // far under a grid tick (1/96 beat at 300 bpm: 2 ms)

// The note-on that `retune` names (time, channel, pitch), if still pending,
// takes `to_pitch`, and so does the first pending note-off of that key after
// it. Returns whether the note-on was pending. When it was not (it has just
// played), the key's first pending note-off is retuned all the same: the
// caller then ends the old pitch and starts the new one now, so that every
// note that sounds still gets its note-off. To kRetuneSilence: the note-on
// becomes a note-off (of a key not sounding: nothing is sent), and its
// note-off stays, to find the key silent too.
template <typename Table>
bool retune_pending(Table& pending, const OutputEvent& retune) noexcept {
  const auto same_key = [&](const OutputEvent& e) { return e.channel == retune.channel && e.pitch == retune.pitch; };
  // The engine computes the time again from its grid tick: equal, up to the
  // rounding of a clock that was re-anchored in between.
  const auto near = [&](std::int64_t t) {
    return t > retune.time_ns - kRetuneSlackNs && t < retune.time_ns + kRetuneSlackNs;
  };
  std::size_t i = 0;
  bool found = false;
  for (; i < pending.size(); ++i) {
    OutputEvent& e = pending.at(i);
    if (e.kind == OutputKind::kNoteOn && e.velocity > 0 && near(e.time_ns) && same_key(e)) {
      if (retune.to_pitch == kRetuneSilence) {
        e.kind = OutputKind::kNoteOff;
        e.velocity = 0;
        return true;
      }
      e.pitch = retune.to_pitch;
      found = true;
      ++i;
      break;
    }
  }
  if (retune.to_pitch == kRetuneSilence) return false;
  if (!found) i = 0;
  for (; i < pending.size(); ++i) {
    OutputEvent& e = pending.at(i);
    const bool off = e.kind == OutputKind::kNoteOff || (e.kind == OutputKind::kNoteOn && e.velocity == 0);
    if (off && same_key(e)) {
      e.pitch = retune.to_pitch;
      break;
    }
  }
  return found;
}

}  // namespace nextbeat::engine
