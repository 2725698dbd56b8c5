#include "engine/offline/Generator.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "engine/codec/Grid.h"
#include "engine/codec/LiveStream.h"

namespace nextbeat::engine {
namespace {

// The source fed to the model for generated steps. The bundled models were
// trained on data that is all "performer" (source 0): a source-1 embedding
// they never saw put their input out of distribution (JSB events test
// continuations: in-key ratio 0.68, polyphony 5.9 with source 1). Generated
// notes are told apart by their start time instead (see finish()).
constexpr std::uint8_t kGeneratedSource = 0;

// Primes the model with the encoded prime, then feeds steps to it, keeping
// all of them for decoding. Called inside the stream's noexcept rollout: a
// failed allocation there ends the process, as running out of memory would.
struct Feeder {
  Feeder(LstmModel& m, const Codec& codec, const Score& prime) : model(m), steps(codec.encode(prime).steps) {
    model.reset();
    for (const auto& s : steps) model.step(s);
  }
  void operator()(const Step& step) {
    model.step(step);
    steps.push_back(step);
  }
  LstmModel& model;
  std::vector<Step> steps;
};

Continuation finish(const Codec& codec, const Score& prime, std::vector<Step> steps, double start_beat,
                    std::size_t generated_steps, const GenerateOptions& options) {
  Continuation out;
  out.start_beat = start_beat;
  out.model_steps = generated_steps;
  out.score = prime;
  for (auto& note : out.score.notes) note.source = 0;
  const Score decoded = codec.decode(EncodedSequence{std::move(steps), prime.source});
  for (Note note : decoded.notes) {
    if (note.start_beat < start_beat - 1e-9) continue;
    note.source = 1;
    note.velocity = std::clamp(static_cast<int>(std::lround(note.velocity * options.velocity_scale)), 1, 127);
    out.score.notes.push_back(note);
    ++out.generated_notes;
  }
  out.score.sort_notes();
  return out;
}

}  // namespace

Continuation continue_score(LstmModel& model, const Codec& codec, const Score& prime, const GenerateOptions& o) {
  const CodecSettings& settings = codec.settings();
  const int grid = std::max(1, grid_per_beat(settings));
  const auto marks = meter_marks(prime.time_signatures, grid);
  Sampler sampler(settings, o.controls);
  // The live engine's rules (LiveStream.h), on one long "beat".
  LiveStreamSlot slot;
  LiveStream& stream = make_live_stream(settings, slot);
  stream.set_grid(marks, 0);

  Feeder feed(model, codec, prime);
  std::vector<Step>& steps = feed.steps;
  stream.continue_after(steps);
  // Start on the first beat at or after the prime's end (SHIFTs or silent frames up to it).
  const std::int64_t start = (stream.time() + grid - 1) / grid * grid;
  stream.catch_up(start, kGeneratedSource, feed);
  const std::size_t prime_steps = steps.size();

  RolloutRequest request;
  request.begin = start;
  request.end = start + static_cast<std::int64_t>(std::llround(o.beats * grid));
  request.on_since.fill(-1);
  request.source = kGeneratedSource;
  request.max_notes_per_beat = o.max_notes_per_beat;
  request.max_note_beats = o.max_note_beats;
  request.release_at_end = true;
  // The notes are decoded from the steps afterwards (finish), so on_note has nothing to do.
  stream.roll_out(
      model, sampler, request, feed, [](std::int64_t, int, int) noexcept {}, []() noexcept { return false; });
  const std::size_t generated = steps.size() - prime_steps;
  return finish(codec, prime, std::move(steps), static_cast<double>(start) / grid, generated, o);
}

std::vector<Step> self_sampled_steps(LstmModel& model, int count, std::uint64_t seed) {
  const auto& spec = model.spec();
  SamplingControls controls;
  controls.seed = seed;
  Sampler sampler(spec.codec, controls);
  const bool tokens = step_form(spec.codec.kind) == StepForm::kToken;
  const int grid = std::max(1, grid_per_beat(spec.codec));
  std::vector<Step> steps;
  steps.reserve(static_cast<std::size_t>(std::max(0, count)));
  model.reset();
  for (int i = 0; i < count; ++i) {
    Step s;
    if (tokens) {
      s.token = sampler.sample_token(model.logits());
    } else {
      s.frame = sampler.sample_frame(model.logits(), model.nade_weights());
    }
    s.beat_tick = static_cast<std::uint16_t>(i % grid);
    s.bar_beat = static_cast<std::uint8_t>((i / grid) % 4);
    steps.push_back(s);
    model.step(s);
  }
  return steps;
}

}  // namespace nextbeat::engine
