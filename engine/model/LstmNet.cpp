// The LibTorch module behind LstmModel: its layers, the forward pass over
// whole sequences and the loss of each target.
#include "engine/model/LstmNet.h"

namespace nextbeat::engine::detail {

LstmNetImpl::LstmNetImpl(const ModelSpec& s) : spec(s) {
  const bool tokens = step_form(spec.codec.kind) == StepForm::kToken;
  if (tokens) {
    token_embed = register_module("token_embed", torch::nn::Embedding(spec.input_size + 1, spec.embed));
  } else {
    frame_proj = register_module("frame_proj", torch::nn::Linear(kKeys, spec.embed));
  }
  if (spec.position_inputs) {
    const int beat_positions = grid_per_beat(spec.codec);
    beat_embed = register_module("beat_embed", torch::nn::Embedding(beat_positions, spec.embed));
    bar_embed = register_module("bar_embed", torch::nn::Embedding(16, spec.embed));
    source_embed = register_module("source_embed", torch::nn::Embedding(2, spec.embed));
  }
  in_drop = register_module("in_drop", torch::nn::Dropout(spec.dropout));
  out_drop = register_module("out_drop", torch::nn::Dropout(spec.dropout));
  lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(spec.embed, spec.hidden)
                                                     .num_layers(spec.layers)
                                                     .dropout(spec.layers > 1 ? spec.dropout : 0.0)
                                                     .batch_first(true)));
  head = register_module("head", torch::nn::Linear(spec.hidden, spec.output_size()));
  if (spec.head == HeadKind::kNade) {
    nade = register_parameter("nade", torch::zeros({kKeys, kKeys}));
    nade_mask = register_buffer("nade_mask", torch::ones({kKeys, kKeys}).tril(-1));
  }
}

std::tuple<torch::Tensor, LstmState> LstmNetImpl::forward(const StepTensors& in, const std::optional<LstmState>& state,
                                                          LstmKernel kernel) {
  torch::Tensor x = step_form(spec.codec.kind) == StepForm::kToken ? token_embed(in.tokens) : frame_proj(in.frames);
  if (spec.position_inputs) x = x + beat_embed(in.beat) + bar_embed(in.bar) + source_embed(in.source);
  x = in_drop(x);
  const bool fused = kernel == LstmKernel::kSequence && x.is_cpu() && x.scalar_type() == torch::kFloat32;
  auto [out, final_state] = fused   ? sequence_lstm(*lstm, x, state, spec.dropout, is_training())
                            : state ? lstm->forward(x, *state)
                                    : lstm->forward(x);
  return {head(out_drop(out)), final_state};
}

torch::Tensor LstmNetImpl::masked_nade() const {
  return nade * nade_mask;
}

torch::Tensor LstmNetImpl::step_nll(const torch::Tensor& logits, const TrainingBatch& batch) {
  namespace F = torch::nn::functional;
  torch::Tensor nll;
  if (spec.head == HeadKind::kSoftmax) {
    const auto sizes = batch.target_tokens.sizes();
    nll = F::cross_entropy(logits.reshape({-1, logits.size(-1)}), batch.target_tokens.reshape({-1}),
                           F::CrossEntropyFuncOptions().reduction(torch::kNone))
              .view(sizes);
  } else {
    torch::Tensor l = logits;
    // Key k also sees the target keys below it: exact likelihood of the
    // frame, teacher-forced, in one matrix product.
    if (spec.head == HeadKind::kNade) l = l + torch::matmul(batch.target_frames, masked_nade().t());
    nll = F::binary_cross_entropy_with_logits(l, batch.target_frames,
                                              F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
              .sum(-1);
  }
  return nll * batch.mask;
}

}  // namespace nextbeat::engine::detail
