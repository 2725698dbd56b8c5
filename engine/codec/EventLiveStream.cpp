#include "engine/codec/EventLiveStream.h"

#include <algorithm>
#include <cmath>

#include "engine/codec/EventRollout.h"

namespace nextbeat::engine {
namespace {

// Feeds what the encoder wrote and empties the writer.
void drain(StepWriter& steps, StepFn feed) noexcept {
  for (const Step& s : steps.steps()) feed(s);
  steps.clear();
}

void encode_note(EventEncoder& encoder, std::int64_t tick, int pitch, int velocity, std::uint8_t source,
                 StepWriter& steps, StepFn feed) noexcept {
  if (velocity > 0) {
    while (!encoder.note_on(tick, pitch, velocity, source, steps)) drain(steps, feed);
  } else {
    while (!encoder.note_off(tick, pitch, source, steps)) drain(steps, feed);
  }
  drain(steps, feed);
}

void encode_until(EventEncoder& encoder, std::int64_t tick, std::uint8_t source, StepWriter& steps,
                  StepFn feed) noexcept {
  while (!encoder.advance_to(tick, source, steps)) drain(steps, feed);
  drain(steps, feed);
}

}  // namespace

EventLiveStream::EventLiveStream(const CodecSettings& settings) noexcept : settings_(settings), encoder_(settings) {
  settings_.ticks_per_beat = std::max(1, settings_.ticks_per_beat);
  settings_.max_shift_ticks = std::max(1, settings_.max_shift_ticks);
}

std::int64_t EventLiveStream::grid_tick(double ticks) const noexcept {
  return std::llround(ticks);
}

void EventLiveStream::set_grid(std::span<const MeterMark> marks, std::int64_t position_offset) noexcept {
  marks_ = marks;
  position_offset_ = position_offset;
  encoder_.set_meter_marks(marks);
}

void EventLiveStream::continue_after(std::span<const Step> encoded) noexcept {
  const EventLayout& layout = encoder_.layout();
  std::int64_t tick = 0;
  for (const Step& s : encoded)
    if (layout.is_shift(s.token)) tick += layout.shift_ticks_of(s.token);
  encoder_.reset(tick);
}

void EventLiveStream::note(std::int64_t tick, int pitch, int velocity, std::uint8_t source, StepFn feed) noexcept {
  StepWriter steps(storage_);
  encode_note(encoder_, tick, pitch, velocity, source, steps, feed);
}

void EventLiveStream::advance(std::int64_t tick, std::uint8_t source, StepFn feed) noexcept {
  // A long silence moves time on in the longest SHIFTs, as the batch encoder
  // writes them, so that no later event pays for the whole gap.
  if (tick - encoder_.time() < settings_.max_shift_ticks) return;
  StepWriter steps(storage_);
  encode_until(encoder_, encoder_.time() + settings_.max_shift_ticks, source, steps, feed);
}

void EventLiveStream::catch_up(std::int64_t tick, std::uint8_t source, StepFn feed) noexcept {
  StepWriter steps(storage_);
  encode_until(encoder_, tick, source, steps, feed);
}

bool EventLiveStream::roll_out(const LstmModel& model, Sampler& sampler, const RolloutRequest& request, StepFn feed,
                               NoteFn on_note, StopFn stop) noexcept {
  EventEncoder encoder = encoder_;  // a copy: the live encoder moves only with what sounds
  StepWriter steps(storage_);
  // What is scheduled but has not sounded yet comes first.
  for (const GridNote& e : request.pending)
    encode_note(encoder, e.tick, e.pitch, e.velocity, request.source, steps, feed);
  encode_until(encoder, request.begin, request.source, steps, feed);

  EventRollout rollout(settings_, marks_, request.source, request.max_notes_per_beat, request.max_note_beats,
                       request.max_voices);
  rollout.time = request.begin;
  rollout.position_offset = position_offset_;
  rollout.on_since = request.on_since;
  rollout.silent = request.silent;
  rollout.velocity_bin = own_velocity_bin_ >= 0 ? own_velocity_bin_ : settings_.velocity_bins * 5 / 8;
  if (!rollout.run(model, sampler, request.end, feed, on_note, stop)) return false;
  if (request.release_at_end) {
    for (int p = 0; p < 128; ++p)
      if (rollout.on_since[static_cast<std::size_t>(p)] >= 0) rollout.release(p, feed, on_note);
  }
  own_velocity_bin_ = rollout.velocity_bin;
  return true;
}

}  // namespace nextbeat::engine
