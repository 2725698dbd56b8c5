// Events waiting for their time: a fixed-capacity list kept in time order,
// the pending part of the output thread's OutputScheduler and of the audio
// callback's synth. Header-only, so io/ can use it without the engine.
// real-time safe: no allocation (the storage is inline), no locks; one
// thread only (whoever owns it).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace nextbeat::engine {

// Event: trivially copyable, with a `std::int64_t time_ns`.
template <typename Event, std::size_t Capacity>
class Timetable {
 public:
  static constexpr std::size_t kCapacity = Capacity;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ == Capacity; }
  // In time order; index 0 is due first.
  const Event& operator[](std::size_t i) const noexcept { return events_[i]; }
  const Event& front() const noexcept { return events_[0]; }
  // For changes that keep the time (and so the order): a retuned pitch.
  Event& at(std::size_t i) noexcept { return events_[i]; }
  const Event* begin() const noexcept { return events_.data(); }
  const Event* end() const noexcept { return events_.data() + size_; }

  // Adds `event` after every event of the same or an earlier time, so that
  // events of one time keep the order they were added in (a note-off before
  // the note-on that retriggers the pitch). False, and nothing added, when full.
  bool insert(const Event& event) noexcept {
    if (full()) return false;
    Event* const last = events_.data() + size_;
    Event* const at = std::upper_bound(events_.data(), last, event,
                                       [](const Event& a, const Event& b) { return a.time_ns < b.time_ns; });
    std::move_backward(at, last, last + 1);
    *at = event;
    ++size_;
    return true;
  }
  // Drops the first `n` events (the ones just played).
  void drop_front(std::size_t n) noexcept {
    n = std::min(n, size_);
    std::move(events_.begin() + static_cast<std::ptrdiff_t>(n), events_.begin() + static_cast<std::ptrdiff_t>(size_),
              events_.begin());
    size_ -= n;
  }
  // Drops every event for which `drop(event)` holds; the rest keep their order.
  template <typename Predicate>
  void drop_if(Predicate drop) noexcept {
    size_ = static_cast<std::size_t>(std::remove_if(events_.data(), events_.data() + size_, drop) - events_.data());
  }
  void clear() noexcept { size_ = 0; }

 private:
  std::array<Event, Capacity> events_{};
  std::size_t size_ = 0;
};

}  // namespace nextbeat::engine
