// OutputEvents as the engine would emit them, for the io tests. Values are
// taken as given, out-of-range ones included (the tests of refusals need them).
#pragma once

#include <cstdint>

#include "engine/queues/LiveEvent.h"

namespace nextbeat::test {

inline engine::OutputEvent output_event(engine::OutputKind kind, int channel = 0, int pitch = 0, int velocity = 0,
                                        std::int64_t time_ns = 0) {
  engine::OutputEvent event;
  event.kind = kind;
  event.channel = static_cast<std::uint8_t>(channel);
  event.pitch = static_cast<std::uint8_t>(pitch);
  event.velocity = static_cast<std::uint8_t>(velocity);
  event.time_ns = time_ns;
  return event;
}

}  // namespace nextbeat::test
