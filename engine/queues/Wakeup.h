// Wakes a waiting thread from another thread: a POSIX semaphore, because
// sem_post is safe on a real-time thread (a futex wake, no lock, no
// allocation) and sem_clockwait sleeps against the steady clock.
#pragma once

#include <semaphore.h>

#include <cerrno>
#include <cstdint>
#include <ctime>

namespace nextbeat::engine {

class Wakeup {
 public:
  Wakeup() noexcept { sem_init(&sem_, 0, 0); }
  ~Wakeup() { sem_destroy(&sem_); }
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // real-time safe: no allocation, no locks.
  void signal() noexcept { sem_post(&sem_); }
  // Sleeps until signal() or `deadline_ns` on the steady clock (CLOCK_MONOTONIC).
  void wait_until(std::int64_t deadline_ns) noexcept {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000);
    while (sem_clockwait(&sem_, CLOCK_MONOTONIC, &ts) != 0 && errno == EINTR) {
    }
  }

 private:
  sem_t sem_{};
};

}  // namespace nextbeat::engine
