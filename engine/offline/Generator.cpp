#include "engine/offline/Generator.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "engine/codec/EventCodec.h"
#include "engine/codec/EventRollout.h"

namespace nextbeat::engine {
namespace {

// The source fed to the model for generated steps. The bundled models were
// trained on data that is all "performer" (source 0): a source-1 embedding
// they never saw put their input out of distribution (JSB events test
// continuations: in-key ratio 0.68, polyphony 5.9 with source 1). Generated
// notes are told apart by their start time instead (see finish()).
constexpr std::uint8_t kGeneratedSource = 0;

// Primes the model with the encoded prime, then feeds steps to it, keeping
// all of them for decoding.
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

Continuation continue_events(LstmModel& model, const Codec& codec, const Score& prime, const GenerateOptions& o) {
  const CodecSettings& settings = codec.settings();
  const int tpb = settings.ticks_per_beat;
  const auto marks = meter_marks(prime.time_signatures, tpb);
  Sampler sampler(settings, o.controls);
  EventRollout rollout(settings, marks, kGeneratedSource, o.max_notes_per_beat, o.max_note_beats);

  Feeder feed(model, codec, prime);
  std::vector<Step>& steps = feed.steps;
  for (const auto& s : steps)
    if (rollout.layout().is_shift(s.token)) rollout.time += rollout.layout().shift_ticks_of(s.token);
  // Start on the first beat at or after the prime's end.
  const std::int64_t start = (rollout.time + tpb - 1) / tpb * tpb;
  rollout.shift_to(start, feed);
  const std::size_t prime_steps = steps.size();

  // The notes are decoded from the steps afterwards (finish), so on_note has nothing to do.
  const auto ignore_note = [](std::int64_t, int, int) {};
  const std::int64_t end = start + static_cast<std::int64_t>(std::llround(o.beats * tpb));
  rollout.run(model, sampler, end, feed, ignore_note, [] { return false; });
  for (int p = 0; p < 128; ++p)
    if (rollout.on_since[static_cast<std::size_t>(p)] >= 0) rollout.release(p, feed, ignore_note);
  const std::size_t generated = steps.size() - prime_steps;
  return finish(codec, prime, std::move(steps), static_cast<double>(start) / tpb, generated, o);
}

Continuation continue_frames(LstmModel& model, const Codec& codec, const Score& prime, const GenerateOptions& o) {
  const CodecSettings& settings = codec.settings();
  const int spb = settings.steps_per_beat;
  const auto marks = meter_marks(prime.time_signatures, spb);
  GridPosition position(spb, marks);
  Sampler sampler(settings, o.controls);

  Feeder feed(model, codec, prime);
  std::vector<Step>& steps = feed.steps;
  auto frame_index = static_cast<std::int64_t>(steps.size());
  const std::int64_t start = (frame_index + spb - 1) / spb * spb;
  for (; frame_index < start; ++frame_index) {  // silence up to the beat
    Step s;
    position.locate(frame_index, s);
    feed(s);
  }
  const std::size_t prime_steps = steps.size();
  const std::int64_t end = start + static_cast<std::int64_t>(std::llround(o.beats * spb));
  const auto max_frames = static_cast<std::int64_t>(std::llround(o.max_note_beats * spb));
  std::array<std::int64_t, kKeys> held{};  // frames each key has been on in a row
  for (; frame_index < end; ++frame_index) {
    Step s{.frame = sampler.sample_frame(model.logits(), model.nade_weights()), .source = kGeneratedSource};
    for (std::size_t k = 0; k < kKeys; ++k) {
      held[k] = s.frame[k] ? held[k] + 1 : 0;
      if (held[k] > max_frames) {  // too long: this frame releases the key
        s.frame.reset(k);
        held[k] = 0;
      }
    }
    position.locate(frame_index, s);
    feed(s);
  }
  const std::size_t generated = steps.size() - prime_steps;
  return finish(codec, prime, std::move(steps), static_cast<double>(start) / spb, generated, o);
}

}  // namespace

Continuation continue_score(LstmModel& model, const Codec& codec, const Score& prime, const GenerateOptions& options) {
  return codec.settings().kind == CodecKind::kEvents ? continue_events(model, codec, prime, options)
                                                     : continue_frames(model, codec, prime, options);
}

std::vector<Step> self_sampled_steps(LstmModel& model, int count, std::uint64_t seed) {
  const auto& spec = model.spec();
  SamplingControls controls;
  controls.seed = seed;
  Sampler sampler(spec.codec, controls);
  const bool events = spec.codec.kind == CodecKind::kEvents;
  const int grid = events ? spec.codec.ticks_per_beat : spec.codec.steps_per_beat;
  std::vector<Step> steps;
  steps.reserve(static_cast<std::size_t>(std::max(0, count)));
  model.reset();
  for (int i = 0; i < count; ++i) {
    Step s;
    if (events) {
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
