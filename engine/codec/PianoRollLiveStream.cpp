#include "engine/codec/PianoRollLiveStream.h"

#include <algorithm>
#include <cmath>

#include "engine/codec/FrameRollout.h"

namespace nextbeat::engine {

PianoRollLiveStream::PianoRollLiveStream(const CodecSettings& settings) noexcept
    : settings_(settings), position_(settings.steps_per_beat, {}) {
  settings_.steps_per_beat = std::max(1, settings_.steps_per_beat);
}

std::int64_t PianoRollLiveStream::grid_tick(double ticks) const noexcept {
  return static_cast<std::int64_t>(std::floor(ticks));
}

void PianoRollLiveStream::set_grid(std::span<const MeterMark> marks, std::int64_t position_offset) noexcept {
  marks_ = marks;
  position_offset_ = position_offset;
  position_.set_marks(marks);
}

void PianoRollLiveStream::reset(std::int64_t tick) noexcept {
  open_ = OpenFrame{.frame = tick};
}

void PianoRollLiveStream::continue_after(std::span<const Step> encoded) noexcept {
  reset(static_cast<std::int64_t>(encoded.size()));
}

void PianoRollLiveStream::close_until(OpenFrame& open, std::int64_t tick, StepFn feed) noexcept {
  for (; open.frame < tick; ++open.frame) {
    const std::bitset<128> keys = open.sounding | open.struck;
    Step s;
    for (int k = 0; k < kKeys; ++k)
      if (keys[static_cast<std::size_t>(kLowestKey + k)]) s.frame.set(static_cast<std::size_t>(k));
    position_.locate(open.frame - position_offset_, s);
    feed(s);
    open.struck.reset();
  }
}

void PianoRollLiveStream::note(std::int64_t tick, int pitch, int velocity, std::uint8_t /*source*/,
                               StepFn feed) noexcept {
  close_until(open_, tick, feed);
  if (pitch < 0 || pitch > 127) return;
  const auto p = static_cast<std::size_t>(pitch);
  if (velocity > 0) {
    open_.sounding.set(p);
    open_.struck.set(p);
  } else {
    open_.sounding.reset(p);
  }
}

void PianoRollLiveStream::advance(std::int64_t tick, std::uint8_t /*source*/, StepFn feed) noexcept {
  close_until(open_, tick, feed);
}

void PianoRollLiveStream::catch_up(std::int64_t tick, std::uint8_t /*source*/, StepFn feed) noexcept {
  close_until(open_, tick, feed);
}

bool PianoRollLiveStream::roll_out(const LstmModel& model, Sampler& sampler, const RolloutRequest& request, StepFn feed,
                                   NoteFn on_note, StopFn stop) noexcept {
  // The live frames up to the beat, on a copy of the open frame: it is closed
  // early (a few milliseconds before its end) with what it holds, and the
  // scheduled own notes count as struck in it.
  OpenFrame open = open_;
  for (const GridNote& e : request.pending) {
    if (e.pitch > 127) continue;
    if (e.velocity > 0) {
      open.sounding.set(e.pitch);
      open.struck.set(e.pitch);
    } else {
      open.sounding.reset(e.pitch);
    }
  }
  close_until(open, request.begin, feed);

  FrameRollout rollout(settings_, marks_, request.source, request.max_note_beats);
  rollout.time = request.begin;
  rollout.position_offset = position_offset_;
  rollout.on_since = request.on_since;
  rollout.silent = request.silent;
  rollout.held_by_others = request.held_by_others;
  return rollout.run(model, sampler, request.end, feed, on_note, stop);
  // release_at_end: nothing to feed; the next frame simply does not hold the keys.
}

}  // namespace nextbeat::engine
