// A fixed-capacity single-producer single-consumer queue that counts what it
// drops. Both sides are real-time safe: no allocation (the capacity is
// allocated by the constructor), no locks, no logging.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include <readerwriterqueue/readerwriterqueue.h>

namespace nextbeat::engine {

template <class T>
class SpscQueue {
 public:
  explicit SpscQueue(std::size_t capacity) : queue_(capacity) {}

  // called on: the producer thread. A full queue drops the item and counts it.
  bool push(const T& item) noexcept {
    if (queue_.try_enqueue(item)) return true;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Moves the item in. A full queue leaves `item` as it was (the caller
  // still owns it: a std::unique_ptr is never lost) and counts the drop.
  bool push(T&& item) noexcept {
    if (queue_.try_enqueue(std::move(item))) return true;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Like push, but a full queue is not counted as a drop: for a caller that
  // keeps the item and tries again (OutputGuard).
  bool try_push(const T& item) noexcept { return queue_.try_enqueue(item); }
  // called on: the consumer thread.
  bool pop(T& item) noexcept { return queue_.try_dequeue(item); }
  const T* peek() const noexcept { return queue_.peek(); }

  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  moodycamel::ReaderWriterQueue<T> queue_;
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace nextbeat::engine
