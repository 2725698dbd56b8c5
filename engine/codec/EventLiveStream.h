// The events codec's live stream: each note event becomes its tokens at once
// (EventEncoder, the same encoder as the batch encode()), and a beat is
// rolled out token by token (EventRollout.h).
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <span>

#include "engine/codec/EventCodec.h"
#include "engine/codec/LiveStream.h"

namespace nextbeat::engine {

class EventLiveStream final : public LiveStream {
 public:
  explicit EventLiveStream(const CodecSettings& settings) noexcept;

  // The nearest tick, as the batch encoder rounds.
  std::int64_t grid_tick(double ticks) const noexcept override;
  void set_grid(std::span<const MeterMark> marks, std::int64_t position_offset) noexcept override;
  void reset(std::int64_t tick) noexcept override { encoder_.reset(tick); }
  void continue_after(std::span<const Step> encoded) noexcept override;
  std::int64_t time() const noexcept override { return encoder_.time(); }

  void note(std::int64_t tick, int pitch, int velocity, std::uint8_t source, StepFn feed) noexcept override;
  void advance(std::int64_t tick, std::uint8_t source, StepFn feed) noexcept override;
  void catch_up(std::int64_t tick, std::uint8_t source, StepFn feed) noexcept override;
  std::int64_t next_step_tick() const noexcept override { return std::numeric_limits<std::int64_t>::max(); }

  bool roll_out(const LstmModel& model, Sampler& sampler, const RolloutRequest& request, StepFn feed, NoteFn on_note,
                StopFn stop) noexcept override;

 private:
  CodecSettings settings_;
  std::span<const MeterMark> marks_;
  // The encoder's positions count from tick 0 of the grid; the rollout's
  // from position_offset_ (as the live engine always did).
  std::int64_t position_offset_ = 0;
  EventEncoder encoder_;
  // The velocity bin of the own part's last rolled-out VELOCITY, -1 = none yet.
  int own_velocity_bin_ = -1;
  std::array<Step, 64> storage_{};
};

}  // namespace nextbeat::engine
