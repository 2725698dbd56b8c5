#include "engine/codec/Grid.h"

#include <algorithm>
#include <cmath>

namespace nextbeat::engine {

int beats_per_bar(const TimeSignature& time_signature) noexcept {
  if (time_signature.numerator <= 0 || time_signature.denominator <= 0) return 4;
  const double beats = std::round(time_signature.numerator * 4.0 / time_signature.denominator);
  return static_cast<int>(std::clamp(beats, 1.0, static_cast<double>(kMaxBeatsPerBar)));
}

std::vector<MeterMark> meter_marks(const std::vector<TimeSignature>& time_signatures, int ticks_per_beat) {
  std::vector<MeterMark> marks;
  marks.reserve(time_signatures.size() + 1);
  for (const auto& ts : time_signatures) {
    const double tick = std::round(std::max(0.0, ts.beat) * ticks_per_beat);
    marks.push_back({std::isfinite(tick) ? static_cast<std::int64_t>(tick) : 0, beats_per_bar(ts)});
  }
  // The files' order is usually sorted already; stable keeps the last of several at one tick.
  std::stable_sort(marks.begin(), marks.end(), [](const MeterMark& a, const MeterMark& b) { return a.tick < b.tick; });
  std::vector<MeterMark> unique;
  unique.reserve(marks.size() + 1);
  if (marks.empty() || marks.front().tick > 0) unique.push_back({0, 4});
  for (const auto& mark : marks) {
    if (!unique.empty() && unique.back().tick == mark.tick) {
      unique.back() = mark;
    } else {
      unique.push_back(mark);
    }
  }
  return unique;
}

GridPosition::GridPosition(int ticks_per_beat, std::span<const MeterMark> marks) noexcept
    : ticks_per_beat_(std::max(1, ticks_per_beat)), marks_(marks) {}

void GridPosition::set_marks(std::span<const MeterMark> marks) noexcept {
  marks_ = marks;
  cursor_ = 0;
}

void GridPosition::locate(std::int64_t tick, Step& step) noexcept {
  tick = std::max<std::int64_t>(tick, 0);
  step.beat_tick = static_cast<std::uint16_t>(tick % ticks_per_beat_);
  std::int64_t origin = 0;
  int beats_per_bar = 4;
  if (!marks_.empty()) {
    if (cursor_ >= marks_.size() || marks_[cursor_].tick > tick) cursor_ = 0;  // went back: rescan
    while (cursor_ + 1 < marks_.size() && marks_[cursor_ + 1].tick <= tick) ++cursor_;
    if (marks_[cursor_].tick <= tick) {
      origin = marks_[cursor_].tick;
      beats_per_bar = std::clamp(marks_[cursor_].beats_per_bar, 1, kMaxBeatsPerBar);
    }
  }
  step.bar_beat = static_cast<std::uint8_t>(((tick - origin) / ticks_per_beat_) % beats_per_bar);
}

}  // namespace nextbeat::engine
