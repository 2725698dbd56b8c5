// The grid both codecs put steps on: meter marks (where bars start), the
// position of a grid tick in its beat and bar, and caller-owned step storage
// for the streaming encoders. Grid ticks are events ticks or pianoroll frames:
// grid_per_beat(settings) of them per quarter-note beat (Codec.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/codec/Codec.h"
#include "engine/music/Score.h"

namespace nextbeat::engine {

// A meter on a grid: from `tick` on, bars of `beats_per_bar` quarter-note beats.
struct MeterMark {
  std::int64_t tick = 0;
  int beats_per_bar = 4;  // 1..16
  bool operator==(const MeterMark&) const = default;
};

constexpr int kMaxBeatsPerBar = 16;

// numerator * 4 / denominator quarter-note beats, rounded, clamped to 1..16.
int beats_per_bar(const TimeSignature& time_signature) noexcept;

// The time signatures on a grid of `ticks_per_beat` (ticks per quarter note):
// sorted, the first at tick 0 (4/4 when there is none before), one mark per tick.
std::vector<MeterMark> meter_marks(const std::vector<TimeSignature>& time_signatures, int ticks_per_beat);

// Position in the beat and bar of a grid tick. The bar count restarts at each
// meter mark. Cheap for non-decreasing ticks (a cursor), correct for any.
// Real-time safe: no allocation, no locks; the marks are borrowed, not copied.
class GridPosition {
 public:
  GridPosition(int ticks_per_beat, std::span<const MeterMark> marks) noexcept;
  void set_marks(std::span<const MeterMark> marks) noexcept;
  // Fills step.beat_tick and step.bar_beat for `tick` (negative ticks count as 0).
  void locate(std::int64_t tick, Step& step) noexcept;

 private:
  int ticks_per_beat_;
  std::span<const MeterMark> marks_;
  std::size_t cursor_ = 0;
};

// Caller-owned output storage of fixed capacity for the streaming encoders
// (EventEncoder, the live streams).
// Real-time safe: no allocation, no locks.
class StepWriter {
 public:
  explicit StepWriter(std::span<Step> storage) noexcept : storage_(storage) {}
  std::size_t size() const noexcept { return size_; }
  std::size_t room() const noexcept { return storage_.size() - size_; }
  std::span<const Step> steps() const noexcept { return storage_.first(size_); }
  void clear() noexcept { size_ = 0; }
  // Precondition: room() > 0 (the encoder checks before it writes).
  void push(const Step& step) noexcept { storage_[size_++] = step; }

 private:
  std::span<Step> storage_;
  std::size_t size_ = 0;
};

}  // namespace nextbeat::engine
