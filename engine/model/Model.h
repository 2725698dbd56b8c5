// The LSTM model with its streaming API. No LibTorch in this header: the
// network lives behind a pointer (LstmNet.h, included only by the engine's
// LibTorch .cpp files), so the daemon, the sampler and the tests of plain
// code compile without it.
//
// What a model is (ModelSpec.h), where files are found (BundledModels.h) and
// the file format (ModelFile.h) live beside it; Model.cpp holds this class
// (weights, files, packing, the step), InferenceSetup.cpp where the step
// runs, LstmNet.cpp the LibTorch module and TrainingBatch.cpp its batches.
//
// Streaming contract (called on: the engine thread, or a single offline
// thread): reset() zeroes the state and feeds the start step, after which
// logits() predicts the first step of a piece; each step(input) feeds one
// step and returns the logits of the next. snapshot()/restore() copy the
// (h, c) state so that a beat can be rolled out from a copy and thrown away.
//
// step() runs on weights packed for it (PackedLstm, fp32 by default) and does
// not allocate; the stock LibTorch module step is kept as the reference and
// for CUDA. Packing happens only where the caller asks for it: construction,
// load(), use_step_path()/prepare_inference() and repack(). Code that
// changes the weights (training, tests that perturb them) takes
// weights_for_training() and must call repack() before the next reset() or
// step(): those never pack (they would allocate on the engine thread), and
// abort rather than step on stale weights.
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
#include "engine/model/BundledModels.h"
#include "engine/model/ModelSpec.h"
#include "engine/model/PackedLstm.h"

namespace nextbeat::engine {

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
  // PrecisionSetting::kAuto measures the packed step in fp32, fp16 and int8
  // on this CPU (~0.3 s) and takes the fastest that is clearly faster than
  // fp32 and whose distributions stay within its stated tolerance on this
  // model (kPrecisionTolerances; docs/PERFORMANCE.md).
  std::string prepare_inference(config::Device device, config::PrecisionSetting precision);
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
  std::size_t packed_matrix_bytes() const;
  std::size_t packed_table_bytes() const;

  // Both require packed weights (see above: no repack() pending).
  void reset();
  // real-time safe on the packed path: no allocation, no locks, no packing.
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

  // For the engine's LibTorch code (evaluation, tests): the module, to read
  // and run; changing weights through it is training (below).
  const detail::LstmNetHolder& net() const;

  // Training access: the module with writable weights. Marks the packed
  // weights stale: call repack() before the next reset() or step().
  detail::LstmNetHolder& weights_for_training();
  // Packs the module's weights for step() on the current path and precision.
  // Allocates: off the engine thread.
  void repack();
  bool needs_repack() const noexcept { return stale_; }

 private:
  LstmModel();
  // Aborts when the weights changed since the last repack() (a programming error).
  void require_packed() const noexcept;
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
// How far a reduced precision's next-step distributions may be from fp32's
// (docs/PERFORMANCE.md, checked by PackedLstmTest): mean KL in nats, worst
// total variation, and the share of steps with the same most likely output.
struct PrecisionTolerance {
  double mean_kl;
  double worst_tv;
  double top1_agreement;
};
inline constexpr PrecisionTolerance kFloat16Tolerance{1e-5, 0.01, 0.99};
inline constexpr PrecisionTolerance kInt8Tolerance{2e-3, 0.1, 0.95};

struct LiveModel {
  std::unique_ptr<LstmModel> model;
  std::string inference;
};
LiveModel load_live_model(std::string_view name, const config::ModelConfig& config);

}  // namespace nextbeat::engine
