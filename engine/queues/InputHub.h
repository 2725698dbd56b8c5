// Every live input feeds the engine through one InputHub: a fixed set of
// single-producer queues (one per producer thread: the control thread, the
// OSC thread, each MIDI input's callback) and one semaphore that wakes the
// engine thread. The engine pops events across the queues in timestamp order.
//
// Slots are claimed and released by the control thread (when a port is
// opened or closed); a slot's producer must have stopped (its client closed,
// its thread joined) before the slot is released and claimed again.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "engine/queues/LiveEvent.h"
#include "engine/queues/SpscQueue.h"
#include "engine/queues/Wakeup.h"

namespace nextbeat::engine {

class InputHub {
 public:
  static constexpr std::size_t kSlots = 24;
  static constexpr std::size_t kControlSlot = 0;  // claimed by the hub itself for the control thread
  static constexpr std::size_t kQueueCapacity = 1024;

  InputHub() {
    for (auto& slot : slots_) slot.queue = std::make_unique<SpscQueue<InputEvent>>(kQueueCapacity);
    slots_[kControlSlot].claimed.store(true);
  }
  InputHub(const InputHub&) = delete;
  InputHub& operator=(const InputHub&) = delete;

  // called on: the control thread. None when every slot is taken.
  std::optional<std::size_t> claim() noexcept {
    for (std::size_t i = 0; i < kSlots; ++i) {
      bool expected = false;
      if (slots_[i].claimed.compare_exchange_strong(expected, true)) return i;
    }
    return std::nullopt;
  }
  // called on: the control thread, after the slot's producer has stopped.
  void release(std::size_t slot) noexcept {
    if (slot != kControlSlot && slot < kSlots) slots_[slot].claimed.store(false);
  }

  // called on: the slot's producer thread. real-time safe: no allocation, no
  // locks (sem_post is a futex wake). Stamps event.port with the slot.
  bool push(std::size_t slot, InputEvent event) noexcept {
    event.port = static_cast<std::uint8_t>(slot);
    const bool ok = slots_[slot].queue->push(event);
    wake_.signal();
    return ok;
  }

  // called on: the engine thread. The earliest event at the head of any queue.
  bool pop(InputEvent& event) noexcept {
    SpscQueue<InputEvent>* best = nullptr;
    for (auto& slot : slots_) {
      const InputEvent* head = slot.queue->peek();
      if (head != nullptr && (best == nullptr || head->time_ns < best->peek()->time_ns)) best = slot.queue.get();
    }
    return best != nullptr && best->pop(event);
  }

  // called on: the engine thread. Sleeps until an input arrives or until
  // `deadline_ns` on the steady clock (CLOCK_MONOTONIC), whichever is first.
  void wait_until(std::int64_t deadline_ns) noexcept { wake_.wait_until(deadline_ns); }
  // Wakes the engine without an event (stop requests).
  void wake() noexcept { wake_.signal(); }

  std::uint64_t dropped() const noexcept {
    std::uint64_t total = 0;
    for (const auto& slot : slots_) total += slot.queue->dropped();
    return total;
  }

 private:
  struct Slot {
    std::unique_ptr<SpscQueue<InputEvent>> queue;
    std::atomic<bool> claimed{false};
  };
  std::array<Slot, kSlots> slots_;
  Wakeup wake_;
};

}  // namespace nextbeat::engine
