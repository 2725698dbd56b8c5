// What a model is: its codec, head and sizes (ModelSpec), as stored in the
// header of a model file, and the checks a file's spec must pass. No
// LibTorch, no files: the network is built from this (LstmNet.h).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/codec/Codec.h"

namespace nextbeat::engine {

// softmax: one token of a vocabulary (events). sigmoid: independent keys of a
// frame (pianoroll). nade: keys of a frame one after another, each
// conditioned on the keys below it (pianoroll; better chords).
enum class HeadKind { kSoftmax, kSigmoid, kNade };

// Limits of embed/hidden and layers, in files and on the command line: a
// 4096-wide LSTM of 16 layers is ~2 GB of weights, past any live budget.
constexpr int kMaxModelWidth = 4096;
constexpr int kMaxModelLayers = 16;

struct ModelSpec {
  CodecSettings codec;
  HeadKind head = HeadKind::kSoftmax;
  int input_size = 0;  // events: the vocabulary; pianoroll: kKeys
  int embed = 256;
  int hidden = 256;
  int layers = 2;
  double dropout = 0.2;
  bool position_inputs = true;  // position in beat and bar, and source, as extra embeddings
  // Trained with roles (engine/music/Parts.h): the performer's part as source 0
  // and nextbeat's as 1, the loss on nextbeat's steps only, so that the model
  // predicts its own part and only listens to the performer's. Live, its own
  // notes are fed as source 1. False: one part, everything fed as source 0.
  bool roles = false;
  // Roles, with nextbeat's time of its own (set by train --roles since
  // 2026-12): every step's target is nextbeat's next event, so a step whose
  // next event is the performer's learns how long nextbeat waits (a SHIFT to
  // its next note, across the performer's notes). And a SHIFT is fed as
  // source 0 whoever moved time, so that its source does not tell whose note
  // comes next: live, nobody knows. Without it (older roles files), a SHIFT
  // was learned from the last event of either part and played at the
  // melody's rate. See input_source() and TrainingBatch.cpp.
  bool own_time = false;
  // Roles, and trained as well on every part as nextbeat's with no performer
  // (train --solo-copies): the model plays alone too, as a model without
  // roles does. Live, in continue and call-response modes, the performer's
  // notes are fed as its own (source 1): both play in the performer's pauses,
  // alone, so it goes on with their music as if it had played it, the way it
  // learned to play alone; heard as a performer who stopped, they drew an
  // accompaniment that waits (call-response answered nothing for seeds 1-3,
  // ControlResponseTest "mode"). Without it, a roles model only accompanies.
  bool plays_alone = false;
  int output_size() const { return input_size; }
  bool operator==(const ModelSpec&) const = default;
};

nlohmann::json spec_to_json(const ModelSpec& spec);
// Throws ModelFileError naming source and the field.
ModelSpec spec_from_json(const nlohmann::json& json, const std::string& source);
std::string head_name(HeadKind head);
// Whether a head predicts what a codec's steps are: softmax a token, sigmoid
// and NADE a frame.
bool head_fits(HeadKind head, StepForm form) noexcept;

// A lower bound of the parameters a network of this spec has (its LSTM and
// head; LstmNet adds embeddings), computed without allocating it: a file must
// hold at least this many weights before the network is built.
std::int64_t minimum_parameter_count(const ModelSpec& spec) noexcept;

// The source a step is fed to the network with: its own, but 0 for a SHIFT
// of an own_time model.
std::uint8_t input_source(const ModelSpec& spec, const Step& step) noexcept;

// A step to warm a model's step up with (any valid input of its codec).
Step warm_up_step(const ModelSpec& spec) noexcept;

}  // namespace nextbeat::engine
