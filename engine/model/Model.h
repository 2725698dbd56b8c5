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
//
// step() runs on weights packed for it (PackedLstm, fp32 by default) and does
// not allocate; the stock LibTorch module step is kept as the reference and
// for CUDA. The packed weights are rebuilt lazily after anyone took the
// mutable net() (training, tests that perturb weights).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/Config.h"
#include "engine/codec/Codec.h"
#include "engine/model/PackedLstm.h"

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

  // Where and how step() runs. Called off the engine thread, before the
  // model is handed to it (allocates; `auto` measures both devices for
  // ~0.2 s). A CUDA request without a CUDA device falls back to the CPU;
  // the returned line says what was chosen and why, for the log.
  std::string prepare_inference(config::Device device, config::WeightPrecision precision);
  enum class StepPath {
    kPacked,    // PackedLstm on the CPU: the live path
    kLibTorch,  // the torch::nn::LSTM module, one step at a time (reference; CUDA)
  };
  StepPath step_path() const { return path_; }
  bool on_cuda() const { return cuda_; }
  config::WeightPrecision precision() const { return precision_; }
  // Switches the step path without measuring (benchmarks, tests). kLibTorch
  // with cuda = true needs a CUDA device (throws otherwise).
  void use_step_path(StepPath path, config::WeightPrecision precision = config::WeightPrecision::kFloat32,
                     bool cuda = false);
  // Bytes of weights one packed step reads, and of its lookup tables.
  std::size_t packed_matrix_bytes();
  std::size_t packed_table_bytes();

  void reset();
  // real-time safe on the packed path (no allocation, no locks), unless the
  // weights were changed through net() since the last step.
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

  // For the engine's LibTorch code (training, evaluation). The mutable one
  // marks the packed weights stale.
  detail::LstmNetHolder& net();
  const detail::LstmNetHolder& net() const;

 private:
  LstmModel();
  void refresh_inference_cache();
  void torch_step(const Step& input);
  std::unique_ptr<detail::LstmNetHolder> net_;
  PackedLstm packed_;
  bool stale_ = true;
  StepPath path_ = StepPath::kPacked;
  config::WeightPrecision precision_ = config::WeightPrecision::kFloat32;
  bool cuda_ = false;
  nlohmann::json provenance_ = nlohmann::json::object();
  State state_;
  std::vector<float> nade_;
};

// A model ready to hand to the engine thread: loaded (name as for
// resolve_model_path), its step prepared for model.device and
// model.precision, warmed up and reset. Called off the engine thread: the
// first steps touch every weight page once, here rather than in front of a
// deadline. `inference` is prepare_inference's line, for the log.
struct LiveModel {
  std::unique_ptr<LstmModel> model;
  std::string inference;
};
LiveModel load_live_model(std::string_view name, const config::ModelConfig& config);

}  // namespace nextbeat::engine
