// Training and evaluation input: sequences cut into windows, windows into
// batch tensors (LstmNet.h declares them).
#include <algorithm>

#include "engine/codec/EventCodec.h"
#include "engine/model/LstmNet.h"
#include "engine/music/Parts.h"

namespace nextbeat::engine::detail {
namespace {

// With roles, whether a target step is nextbeat's to predict: its own notes,
// note-offs and velocities (source 1), and a SHIFT when time moves to a tick
// where nextbeat has an event (SHIFTs carry the source of the first event at
// their tick, which may be the performer's note-off at a chord change). The
// performer's steps are only listened to.
bool trained_with_roles(const std::vector<Step>& steps, std::size_t i, const EventLayout& layout) {
  if (!layout.is_shift(steps[i].token)) return steps[i].source == kAccompanimentRole;
  std::size_t j = i + 1;
  while (j < steps.size() && layout.is_shift(steps[j].token)) ++j;
  for (; j < steps.size() && !layout.is_shift(steps[j].token); ++j) {
    if (steps[j].source == kAccompanimentRole) return true;
  }
  return false;
}

}  // namespace

std::vector<Window> make_windows(const std::vector<EncodedSequence>& sequences, std::size_t length) {
  std::vector<Window> windows;
  for (const auto& s : sequences) {
    for (std::size_t begin = 0; begin < s.steps.size(); begin += length)
      windows.push_back({&s, begin, std::min(s.steps.size(), begin + length)});
  }
  return windows;
}

TrainingBatch make_batch(const ModelSpec& spec, const std::vector<Window>& windows) {
  const bool events = step_form(spec.codec.kind) == StepForm::kToken;  // else frames
  const bool roles = events && spec.roles;
  const EventLayout layout{.velocity_bins = spec.codec.velocity_bins, .max_shift_ticks = spec.codec.max_shift_ticks};
  const auto b = static_cast<std::int64_t>(windows.size());
  std::int64_t t = 0;
  for (const auto& w : windows) t = std::max<std::int64_t>(t, static_cast<std::int64_t>(w.end - w.begin));

  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  TrainingBatch batch;
  batch.inputs.beat = torch::zeros({b, t}, i64);
  batch.inputs.bar = torch::zeros({b, t}, i64);
  batch.inputs.source = torch::zeros({b, t}, i64);
  batch.mask = torch::zeros({b, t}, f32);
  if (events) {
    batch.inputs.tokens = torch::full({b, t}, start_token(spec), i64);
    batch.target_tokens = torch::zeros({b, t}, i64);
  } else {
    batch.inputs.frames = torch::zeros({b, t, kKeys}, f32);
    batch.target_frames = torch::zeros({b, t, kKeys}, f32);
  }
  // Raw row-major pointers: element access through Tensor indexing would
  // build a tensor per element.
  auto* beat = batch.inputs.beat.data_ptr<std::int64_t>();
  auto* bar = batch.inputs.bar.data_ptr<std::int64_t>();
  auto* source = batch.inputs.source.data_ptr<std::int64_t>();
  auto* mask = batch.mask.data_ptr<float>();
  auto* in_tokens = events ? batch.inputs.tokens.data_ptr<std::int64_t>() : nullptr;
  auto* out_tokens = events ? batch.target_tokens.data_ptr<std::int64_t>() : nullptr;
  auto* in_frames = events ? nullptr : batch.inputs.frames.data_ptr<float>();
  auto* out_frames = events ? nullptr : batch.target_frames.data_ptr<float>();
  const auto put_frame = [](float* dst, const Frame& frame) {
    for (std::size_t k = 0; k < kKeys; ++k) dst[k] = frame[k] ? 1.0F : 0.0F;
  };
  for (std::int64_t row = 0; row < b; ++row) {
    const auto& w = windows[static_cast<std::size_t>(row)];
    const auto& steps = w.sequence->steps;
    for (std::size_t i = w.begin; i < w.end; ++i) {
      const std::int64_t at = row * t + static_cast<std::int64_t>(i - w.begin);
      mask[at] = !roles || trained_with_roles(steps, i, layout) ? 1.0F : 0.0F;
      const Step& target = steps[i];
      if (events) {
        out_tokens[at] = target.token;
      } else {
        put_frame(out_frames + at * kKeys, target.frame);
      }
      if (i == 0) continue;  // input: the start step, already in place
      const Step& input = steps[i - 1];
      beat[at] = input.beat_tick;
      bar[at] = input.bar_beat;
      source[at] = input.source;
      if (events) {
        in_tokens[at] = input.token;
      } else {
        put_frame(in_frames + at * kKeys, input.frame);
      }
    }
  }
  batch.targets = static_cast<std::int64_t>(batch.mask.sum().item<float>());
  return batch;
}

}  // namespace nextbeat::engine::detail
