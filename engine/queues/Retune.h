// Applying a kRetune (LiveEvent.h) to a timetable of pending output events:
// the one piece of logic the output thread's OutputScheduler and the audio
// output's callback share. real-time safe: no allocation, no lock.
#pragma once

#include <cstddef>

#include "engine/queues/LiveEvent.h"

namespace nextbeat::engine {

// The note-on that `retune` names (time, channel, pitch), if still pending,
// takes `to_pitch`, and so does the first pending note-off of that key after
// it. Returns whether the note-on was pending. When it was not (it has just
// played), the key's first pending note-off is retuned all the same: the
// caller then ends the old pitch and starts the new one now, so that every
// note that sounds still gets its note-off.
template <typename Table>
bool retune_pending(Table& pending, const OutputEvent& retune) noexcept {
  const auto same_key = [&](const OutputEvent& e) { return e.channel == retune.channel && e.pitch == retune.pitch; };
  std::size_t i = 0;
  bool found = false;
  for (; i < pending.size(); ++i) {
    OutputEvent& e = pending.at(i);
    if (e.kind == OutputKind::kNoteOn && e.velocity > 0 && e.time_ns == retune.time_ns && same_key(e)) {
      e.pitch = retune.to_pitch;
      found = true;
      ++i;
      break;
    }
  }
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
