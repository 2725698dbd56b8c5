// The pianoroll codec's live stream: note events mark the open frame (what
// sounds in it, what was struck in it), which becomes one step when it
// closes at the frame boundary; a beat is rolled out frame by frame
// (FrameRollout.h).
#pragma once

#include <bitset>
#include <cstdint>
#include <span>

#include "engine/codec/LiveStream.h"

namespace nextbeat::engine {

class PianoRollLiveStream final : public LiveStream {
 public:
  explicit PianoRollLiveStream(const CodecSettings& settings) noexcept;

  // The frame the time falls in.
  std::int64_t grid_tick(double ticks) const noexcept override;
  void set_grid(std::span<const MeterMark> marks, std::int64_t position_offset) noexcept override;
  void reset(std::int64_t tick) noexcept override;
  void continue_after(std::span<const Step> encoded) noexcept override;
  std::int64_t time() const noexcept override { return open_.frame; }

  void note(std::int64_t tick, int pitch, int velocity, std::uint8_t source, StepFn feed) noexcept override;
  void advance(std::int64_t tick, std::uint8_t source, StepFn feed) noexcept override;
  void catch_up(std::int64_t tick, std::uint8_t source, StepFn feed) noexcept override;
  std::int64_t next_step_tick() const noexcept override { return open_.frame + 1; }

  bool roll_out(const LstmModel& model, Sampler& sampler, const RolloutRequest& request, StepFn feed, NoteFn on_note,
                StopFn stop) noexcept override;

 private:
  // The open frame's keys, by MIDI pitch: what sounds in it and what was struck in it.
  struct OpenFrame {
    std::int64_t frame = 0;  // its index (= grid tick)
    std::bitset<128> sounding;
    std::bitset<128> struck;
  };
  // Closes the frames before `tick`, one step each. Frames carry source 0,
  // as the batch codec's silent frames do: both parts are fed as source 0
  // (LiveEngine::self_source() explains).
  void close_until(OpenFrame& open, std::int64_t tick, StepFn feed) noexcept;

  CodecSettings settings_;
  GridPosition position_;
  std::span<const MeterMark> marks_;
  std::int64_t position_offset_ = 0;
  OpenFrame open_;
};

}  // namespace nextbeat::engine
