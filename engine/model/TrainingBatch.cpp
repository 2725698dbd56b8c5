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

// With own_time (ModelSpec::own_time), each step's target is nextbeat's next
// event, whoever's event step i is: own steps are their own target; at any
// other step nextbeat's next step at the same tick, or a SHIFT to the tick of
// its next event (at most max_shift_ticks; the performer's events in between
// do not count). -1 after nextbeat's last step: nothing to learn there. So a
// step whose next event is the performer's teaches how long nextbeat waits,
// which is what a rollout asks: it never knows the performer's next note.
// targets[k] is for steps[begin + k]; the scan looks past `end` for the next
// own step.
void own_time_targets(const std::vector<Step>& steps, std::size_t begin, std::size_t end, const EventLayout& layout,
                      std::vector<int>& targets) {
  // Time before each step of [begin, end), relative to steps[begin].
  std::vector<std::int64_t> time(end - begin + 1, 0);
  for (std::size_t i = begin; i < end; ++i) {
    const int token = steps[i].token;
    time[i - begin + 1] = time[i - begin] + (layout.is_shift(token) ? layout.shift_ticks_of(token) : 0);
  }
  // The first own non-SHIFT step from `end` on, and its time.
  std::size_t next = end;
  std::int64_t next_time = time[end - begin];
  for (; next < steps.size(); ++next) {
    const Step& s = steps[next];
    if (layout.is_shift(s.token)) {
      next_time += layout.shift_ticks_of(s.token);
    } else if (s.source == kAccompanimentRole) {
      break;
    }
  }
  targets.assign(end - begin, -1);
  for (std::size_t i = end; i-- > begin;) {
    const Step& s = steps[i];
    if (!layout.is_shift(s.token) && s.source == kAccompanimentRole) {
      next = i;
      next_time = time[i - begin];
    }
    if (next >= steps.size()) continue;
    const std::int64_t wait = next_time - time[i - begin];
    targets[i - begin] =
        wait == 0 ? steps[next].token
                  : layout.shift_token(static_cast<int>(std::min<std::int64_t>(wait, layout.max_shift_ticks)));
  }
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
  const bool own_time = roles && spec.own_time;
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
  std::vector<int> own_targets;
  for (std::int64_t row = 0; row < b; ++row) {
    const auto& w = windows[static_cast<std::size_t>(row)];
    const auto& steps = w.sequence->steps;
    if (own_time) own_time_targets(steps, w.begin, w.end, layout, own_targets);
    for (std::size_t i = w.begin; i < w.end; ++i) {
      const std::int64_t at = row * t + static_cast<std::int64_t>(i - w.begin);
      const Step& target = steps[i];
      if (own_time) {
        const int own = own_targets[i - w.begin];
        mask[at] = own >= 0 ? 1.0F : 0.0F;
        out_tokens[at] = std::max(own, 0);
      } else if (events) {
        mask[at] = !roles || trained_with_roles(steps, i, layout) ? 1.0F : 0.0F;
        out_tokens[at] = target.token;
      } else {
        mask[at] = 1.0F;
        put_frame(out_frames + at * kKeys, target.frame);
      }
      if (i == 0) continue;  // input: the start step, already in place
      const Step& input = steps[i - 1];
      beat[at] = input.beat_tick;
      bar[at] = input.bar_beat;
      source[at] = input_source(spec, input);
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
