// Objects that cross to the engine thread and back (STYLE.md rule 5): built
// on the control thread, used on the engine thread, and handed back to be
// freed on the control thread, all as std::unique_ptr. No raw owning pointer
// crosses a thread, and nothing is lost when a queue is full.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include "engine/queues/SpscQueue.h"

namespace nextbeat::engine {

template <class T>
class Handover {
 public:
  // `capacity`: how many may be in flight each way.
  explicit Handover(std::size_t capacity) : in_(capacity), out_(capacity) {}

  // called on: the control thread. False when `capacity` are in flight
  // already; then `item` is still the caller's.
  bool send(std::unique_ptr<T>& item) noexcept { return in_.push(std::move(item)); }

  // called on: the engine thread. For each object sent, `use(new)` puts it in
  // place and returns the one it replaces, which goes back. A hand-back that
  // does not fit waits here, and nothing new is taken until it has gone back:
  // the engine thread never frees one.
  // real-time safe: no allocation, no locks (if `use` is).
  template <class Use>
  void receive(Use&& use) noexcept {
    for (;;) {
      if (returning_ && !out_.push(std::move(returning_))) return;
      std::unique_ptr<T> item;
      if (!in_.pop(item)) return;
      returning_ = use(std::move(item));
    }
  }

  // called on: the engine thread. Hands back an object replaced later than
  // its successor came in (a model swap that waited for the bar line). False
  // when an earlier one still waits to go back: then `item` is still the
  // caller's, to try again next turn.
  // real-time safe: no allocation, no locks.
  bool give_back(std::unique_ptr<T>& item) noexcept {
    if (returning_ && !out_.push(std::move(returning_))) return false;
    if (!out_.push(std::move(item))) returning_ = std::move(item);
    return true;
  }

  // called on: the control thread. Frees what came back.
  void collect() noexcept {
    std::unique_ptr<T> item;
    while (out_.pop(item)) item.reset();
  }

  // called on: the control thread, once the engine thread has ended. Frees
  // everything still in flight either way.
  void clear() noexcept {
    collect();
    std::unique_ptr<T> item;
    while (in_.pop(item)) item.reset();
    returning_.reset();
  }

 private:
  SpscQueue<std::unique_ptr<T>> in_;
  SpscQueue<std::unique_ptr<T>> out_;
  std::unique_ptr<T> returning_;  // engine thread only (and clear() after it ended)
};

}  // namespace nextbeat::engine
