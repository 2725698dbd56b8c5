// The LibTorch module behind LstmModel, and the batch tensors that training
// and evaluation feed it. Internal to engine/: include it only from the few
// .cpp files that need LibTorch (each pays ~15 s of compile time for it).
#pragma once

#include <optional>
#include <tuple>
#include <vector>

// The module parts only, not <torch/torch.h>: what uses more (optimizers,
// serialization) includes it in its own .cpp.
#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>
#include <torch/nn/pimpl.h>
#include <torch/utils.h>

#include "engine/model/Model.h"

namespace nextbeat::engine::detail {

// A batch of step sequences, [B, T] (frames: [B, T, kKeys]).
struct StepTensors {
  torch::Tensor tokens;  // int64, events
  torch::Tensor frames;  // float32, pianoroll
  torch::Tensor beat;    // int64, position in the beat
  torch::Tensor bar;     // int64, beat in the bar
  torch::Tensor source;  // int64, 0 performer / 1 self
};

// Inputs, targets and a mask for next-step prediction: input t is the start
// step (t = 0) or step t-1 of the sequence, target t is step t.
struct TrainingBatch {
  StepTensors inputs;
  torch::Tensor target_tokens;  // [B, T] int64 (events)
  torch::Tensor target_frames;  // [B, T, kKeys] float (pianoroll)
  torch::Tensor mask;           // [B, T] float, 1 where a target exists
  std::int64_t targets = 0;     // sum of mask
};

// One window of a sequence: targets [begin, end). Window 0 starts from the
// start step; later windows start from step begin-1 with a zero state.
struct Window {
  const EncodedSequence* sequence = nullptr;
  std::size_t begin = 0;
  std::size_t end = 0;
};

using LstmState = std::tuple<torch::Tensor, torch::Tensor>;  // h, c: [layers, B, hidden]

// The LSTM layers over whole sequences ([B, T, in] -> [B, T, H] and the final
// state), one fused autograd function per layer (LstmSequence.cpp): the
// same maths and parameters as lstm.forward, without its ~45 small ops per
// step and layer. CPU, float32.
std::tuple<torch::Tensor, LstmState> sequence_lstm(torch::nn::LSTMImpl& lstm, const torch::Tensor& x,
                                                   const std::optional<LstmState>& state, double dropout,
                                                   bool training);

enum class LstmKernel {
  kSequence,  // sequence_lstm where it applies (CPU, float32): training and evaluation
  kStock,     // torch::nn::LSTM's own forward (the reference; CUDA)
};

struct LstmNetImpl : torch::nn::Module {
  explicit LstmNetImpl(const ModelSpec& spec);

  // Logits [B, T, output] and the final state.
  std::tuple<torch::Tensor, LstmState> forward(const StepTensors& in, const std::optional<LstmState>& state = {},
                                               LstmKernel kernel = LstmKernel::kSequence);
  // Negative log-likelihood of each target in nats, [B, T] (0 where masked).
  torch::Tensor step_nll(const torch::Tensor& logits, const TrainingBatch& batch);
  // The NADE weights with the strictly-lower mask applied.
  torch::Tensor masked_nade() const;

  ModelSpec spec;
  torch::nn::Embedding token_embed{nullptr};
  torch::nn::Linear frame_proj{nullptr};
  torch::nn::Embedding beat_embed{nullptr};
  torch::nn::Embedding bar_embed{nullptr};
  torch::nn::Embedding source_embed{nullptr};
  torch::nn::Dropout in_drop{nullptr};
  torch::nn::Dropout out_drop{nullptr};
  torch::nn::LSTM lstm{nullptr};
  torch::nn::Linear head{nullptr};
  torch::Tensor nade;       // [kKeys, kKeys], NADE head only
  torch::Tensor nade_mask;  // buffer, strictly lower triangular ones
};
TORCH_MODULE(LstmNet);

struct LstmNetHolder {
  LstmNet module;
};

// The id of the start step's token (events): one past the vocabulary.
inline std::int64_t start_token(const ModelSpec& spec) {
  return spec.input_size;
}

TrainingBatch make_batch(const ModelSpec& spec, const std::vector<Window>& windows);

// Cuts each sequence into windows of at most `length` targets.
std::vector<Window> make_windows(const std::vector<EncodedSequence>& sequences, std::size_t length);

}  // namespace nextbeat::engine::detail
