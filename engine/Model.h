// The LSTM model with its streaming API. No LibTorch in this header: the
// network lives behind a pointer (LstmNet.h, included only by the engine's
// LibTorch .cpp files), so the daemon, the sampler and the tests of plain
// code compile without it.
//
// Streaming contract (called on: the engine thread, or a single offline
// thread): reset() zeroes the state and feeds the start step, after which
// logits() predicts the first step of a piece; each step(input) feeds one
// step and returns the logits of the next. snapshot()/restore() copy the
// (h, c) state so that a beat can be rolled out from a copy and thrown away.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/Codec.h"

namespace nextbeat::engine {

// softmax: one token of a vocabulary (events). sigmoid: independent keys of a
// frame (pianoroll). nade: keys of a frame one after another, each
// conditioned on the keys below it (pianoroll; better chords).
enum class HeadKind { kSoftmax, kSigmoid, kNade };

struct ModelSpec {
  CodecSettings codec;
  HeadKind head = HeadKind::kSoftmax;
  int input_size = 0;  // events: the vocabulary; pianoroll: kKeys
  int embed = 256;
  int hidden = 256;
  int layers = 2;
  double dropout = 0.2;
  bool position_inputs = true;  // position in beat and bar, and source, as extra embeddings
  int output_size() const { return input_size; }
  bool operator==(const ModelSpec&) const = default;
};

nlohmann::json spec_to_json(const ModelSpec& spec);
// Throws ModelFileError naming source and the field.
ModelSpec spec_from_json(const nlohmann::json& json, const std::string& source);
std::string head_name(HeadKind head);

// "default:events" and "default:pianoroll" name the bundled models; anything
// else is a path. Looks in $NEXTBEAT_MODEL_DIR, the installed data directory
// and the source tree, in that order. Throws ModelFileError when not found.
std::filesystem::path resolve_model_path(std::string_view name);

struct ModelFileContents;

namespace detail {
struct LstmNetHolder;  // the LibTorch module, see LstmNet.h
}

class LstmModel {
 public:
  // Fresh weights from a seed (training starts here).
  LstmModel(const ModelSpec& spec, std::uint64_t seed);
  // A model file (see ModelFile.h); throws ModelFileError with the path and
  // what is wrong for a wrong, truncated or foreign file.
  static LstmModel load(const std::filesystem::path& path);
  ~LstmModel();
  LstmModel(LstmModel&&) noexcept;
  LstmModel& operator=(LstmModel&&) noexcept;

  const ModelSpec& spec() const;
  // Data, command, metrics and time of training, as stored in the file.
  const nlohmann::json& provenance() const;
  void set_provenance(nlohmann::json provenance);
  void save(const std::filesystem::path& path) const;  // atomic
  // What save() writes, in memory (checkpoints add the trainer's state to it).
  ModelFileContents file_contents() const;
  std::int64_t parameter_count() const;

  void reset();
  std::span<const float> step(const Step& input);
  std::span<const float> logits() const;  // of the last reset() or step()
  // NADE head: the [kKeys x kKeys] row-major weights of key j (< k) on key
  // k's logit, zero on and above the diagonal; empty for other heads.
  std::span<const float> nade_weights() const;

  struct State {
    std::vector<float> h, c;  // layers x hidden each
    std::vector<float> logits;
  };
  State snapshot() const;
  // The same into existing storage: no allocation once `into` has the size
  // (the live engine's rollouts).
  void snapshot(State& into) const;
  void restore(const State& state);

  // For the engine's LibTorch code (training, evaluation).
  detail::LstmNetHolder& net();
  const detail::LstmNetHolder& net() const;

 private:
  LstmModel();
  void refresh_inference_cache();
  std::unique_ptr<detail::LstmNetHolder> net_;
  nlohmann::json provenance_ = nlohmann::json::object();
  State state_;
  std::vector<float> nade_;
};

}  // namespace nextbeat::engine
