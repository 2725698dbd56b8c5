#include "engine/Generator.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "engine/EventCodec.h"

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
  EventLayout layout;
  layout.velocity_bins = settings.velocity_bins;
  layout.max_shift_ticks = settings.max_shift_ticks;
  const int tpb = settings.ticks_per_beat;
  const auto marks = meter_marks(prime.time_signatures, tpb);
  GridPosition position(tpb, marks);
  Sampler sampler(settings, o.controls);

  Feeder feed(model, codec, prime);
  std::vector<Step>& steps = feed.steps;

  std::int64_t time = 0;
  for (const auto& s : steps)
    if (layout.is_shift(s.token)) time += layout.shift_ticks_of(s.token);
  // Start on the first beat at or after the prime's end.
  const std::int64_t start = (time + tpb - 1) / tpb * tpb;
  const auto shift_to = [&](std::int64_t tick) {
    while (time < tick) {
      const auto k = static_cast<int>(std::min<std::int64_t>(tick - time, layout.max_shift_ticks));
      Step s{.token = layout.shift_token(k), .source = kGeneratedSource};
      position.locate(time, s);
      feed(s);
      time += k;
    }
  };
  shift_to(start);
  const std::size_t prime_steps = steps.size();

  const std::int64_t end = start + static_cast<std::int64_t>(std::llround(o.beats * tpb));
  const auto max_note_ticks = static_cast<std::int64_t>(std::llround(o.max_note_beats * tpb));
  std::array<std::int64_t, 128> on_since{};
  on_since.fill(-1);
  const auto note_off = [&](int pitch) {
    Step s{.token = EventLayout::note_off_token(pitch), .source = kGeneratedSource};
    position.locate(time, s);
    feed(s);
    on_since[static_cast<std::size_t>(pitch)] = -1;
  };
  int notes_this_beat = 0;
  std::int64_t beat_of_count = start / tpb;
  // The cap on notes per beat bounds the NOTE_ONs between two SHIFTs, and
  // this bounds the rest (VELOCITY, NOTE_OFF): a model that never moves time
  // is moved on, so the loop always ends.
  const int max_tokens_per_tick = 4 * o.max_notes_per_beat + 16;
  int tokens_this_tick = 0;
  while (time < end) {
    if (tokens_this_tick >= max_tokens_per_tick) {
      shift_to(time + 1);
      tokens_this_tick = 0;
      continue;
    }
    for (int p = 0; p < 128; ++p)
      if (on_since[static_cast<std::size_t>(p)] >= 0 && time - on_since[static_cast<std::size_t>(p)] >= max_note_ticks)
        note_off(p);
    if (time / tpb != beat_of_count) {
      beat_of_count = time / tpb;
      notes_this_beat = 0;
    }
    const int token = sampler.sample_token(model.logits(), notes_this_beat < o.max_notes_per_beat);
    if (layout.is_shift(token)) {
      shift_to(std::min(end, time + layout.shift_ticks_of(token)));
      tokens_this_tick = 0;
      continue;
    }
    ++tokens_this_tick;
    Step s{.token = token, .source = kGeneratedSource};
    position.locate(time, s);
    feed(s);
    if (EventLayout::is_note_on(token)) {
      on_since[static_cast<std::size_t>(EventLayout::pitch_of(token))] = time;
      ++notes_this_beat;
    } else if (EventLayout::is_note_off(token)) {
      on_since[static_cast<std::size_t>(EventLayout::pitch_of(token))] = -1;
    }
  }
  for (int p = 0; p < 128; ++p)
    if (on_since[static_cast<std::size_t>(p)] >= 0) note_off(p);
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

}  // namespace nextbeat::engine
