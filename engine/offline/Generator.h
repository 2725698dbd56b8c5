// Continuing a piece: prime the model with a score, then roll out N beats
// with the sampler. Used by `nextbeat generate` and by `eval`'s generation
// metrics; the live engine rolls out one beat at a time the same way.
#pragma once

#include <cstdint>

#include "engine/codec/Codec.h"
#include "engine/model/Model.h"
#include "engine/model/Sampler.h"

namespace nextbeat::engine {

struct GenerateOptions {
  double beats = 8;  // length of the continuation
  SamplingControls controls;
  double velocity_scale = 1.0;  // applied to the generated notes' velocities
  double max_note_beats = 8.0;  // a generated note is ended after this long
  int max_voices = 4;           // events: a note past this many held ends the oldest; 0 = no cap
  int max_notes_per_beat = 24;  // events: past this, the beat only lets time pass
};

struct Continuation {
  Score score;            // the prime's notes (source 0) and the generated ones (source 1)
  double start_beat = 0;  // where the continuation starts: the first beat at or after the prime's end
  std::size_t generated_notes = 0;
  std::size_t model_steps = 0;  // steps fed to the model for the continuation
};

Continuation continue_score(LstmModel& model, const Codec& codec, const Score& prime, const GenerateOptions& options);

// The prime as `nextbeat generate` continues it: a model that plays alone
// (ModelSpec::plays_alone) hears it as its own part and carries it on, as
// live in continue mode; any other model hears it as the performer's (a
// roles model then continues its accompaniment).
Score prime_for(const LstmModel& model, Score prime);

// `count` steps the model plays from a reset, sampled from itself with
// default controls and `seed`, positions moving on the grid (4 beats a bar):
// realistic inputs for benchmarks and for comparing step paths. Leaves the
// model's state after the last step.
std::vector<Step> self_sampled_steps(LstmModel& model, int count, std::uint64_t seed);

}  // namespace nextbeat::engine
