#include "engine/offline/Generator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "engine/codec/Grid.h"
#include "engine/codec/LiveStream.h"

namespace nextbeat::engine {
namespace {

// The source fed to the model for generated steps: as live
// (LiveEngine::self_source()), 1 for a model trained with roles, else 0. A
// model without roles was trained on data that is all "performer" (source 0):
// a source-1 embedding it never saw puts its input out of distribution (JSB
// events test continuations: in-key ratio 0.68, polyphony 5.9 with source 1).
// Generated notes are told apart by their start time instead (see finish()).
std::uint8_t generated_source(const LstmModel& model) {
  return model.spec().roles ? 1 : 0;
}

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

// What on_note heard: every note that sounded (not NoteRole::kSilent), as
// (grid tick, pitch, velocity; 0 = its end), in order.
using Heard = std::vector<GridNote>;

// The continuation is decoded from the steps fed, keeping the notes that
// sounded: the steps also hold the notes density left silent, and lack the
// extra notes it added (NoteRole in LiveStream.h), which come from `heard`.
Continuation finish(const Codec& codec, const Score& prime, std::vector<Step> steps, double start_beat, int grid,
                    const Heard& heard, std::int64_t end_tick, std::size_t generated_steps,
                    const GenerateOptions& options) {
  Continuation out;
  out.start_beat = start_beat;
  out.model_steps = generated_steps;
  out.score = prime;
  for (auto& note : out.score.notes) note.source = 0;
  // The heard notes, paired, by onset.
  std::map<std::pair<std::int64_t, int>, Note> sounded;
  std::array<std::pair<std::int64_t, int>, 128> open;  // onset tick (-1 = none) and velocity, by pitch
  open.fill({-1, 0});
  const auto close = [&](int pitch, std::int64_t tick) {
    const auto [on, velocity] = open[static_cast<std::size_t>(pitch)];
    if (on < 0) return;
    sounded[{on, pitch}] = Note{.pitch = pitch,
                                .velocity = velocity,
                                .start_beat = static_cast<double>(on) / grid,
                                .end_beat = static_cast<double>(std::max(tick, on + 1)) / grid};
  };
  for (const GridNote& e : heard) {
    close(e.pitch, e.tick);
    open[e.pitch] = e.velocity > 0 ? std::pair{e.tick, int{e.velocity}} : std::pair{std::int64_t{-1}, 0};
  }
  for (int p = 0; p < 128; ++p) close(p, end_tick);  // pianoroll: what sounds at the end
  const auto add = [&](Note note) {
    note.source = 1;
    note.velocity = std::clamp(static_cast<int>(std::lround(note.velocity * options.velocity_scale)), 1, 127);
    out.score.notes.push_back(note);
    ++out.generated_notes;
  };
  const Score decoded = codec.decode(EncodedSequence{std::move(steps), prime.source});
  for (const Note& note : decoded.notes) {
    if (note.start_beat < start_beat - 1e-9) continue;
    const auto it = sounded.find({std::llround(note.start_beat * grid), note.pitch});
    if (it == sounded.end()) continue;  // left silent
    sounded.erase(it);
    add(note);
  }
  for (const auto& [onset, note] : sounded) add(note);  // extra notes, never fed
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
  const std::uint8_t generated_by = generated_source(model);
  stream.catch_up(start, generated_by, feed);
  const std::size_t prime_steps = steps.size();

  RolloutRequest request;
  request.begin = start;
  request.end = start + static_cast<std::int64_t>(std::llround(o.beats * grid));
  request.on_since.fill(-1);
  request.source = generated_by;
  request.max_notes_per_beat = o.max_notes_per_beat;
  request.max_note_beats = o.max_note_beats;
  request.max_voices = o.max_voices;
  request.release_at_end = true;
  // The notes are decoded from the steps afterwards (finish), with what on_note heard.
  Heard heard;
  stream.roll_out(
      model, sampler, request, feed,
      [&heard](std::int64_t tick, int pitch, int velocity, NoteRole role) noexcept {
        if (sounds(role))
          heard.push_back(GridNote{tick, static_cast<std::uint8_t>(pitch), static_cast<std::uint8_t>(velocity), role});
      },
      []() noexcept { return false; });
  const std::size_t generated = steps.size() - prime_steps;
  return finish(codec, prime, std::move(steps), static_cast<double>(start) / grid, grid, heard, request.end, generated,
                o);
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

Score prime_for(const LstmModel& model, Score prime) {
  if (model.spec().plays_alone)
    for (auto& n : prime.notes) n.source = generated_source(model);
  return prime;
}

}  // namespace nextbeat::engine
