// The one clock every thread stamps events with: the steady clock
// (CLOCK_MONOTONIC) in nanoseconds, the time base of InputEvent::time_ns,
// OutputEvent::time_ns and Wakeup::wait_until. Header-only, so io/ can use it
// without linking the engine.
#pragma once

#include <chrono>
#include <cstdint>

namespace nextbeat::engine {

// real-time safe: no allocation, no locks (a vDSO clock read). called on: any thread.
inline std::int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace nextbeat::engine
