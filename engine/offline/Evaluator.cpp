#include "engine/offline/Evaluator.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "engine/model/LstmNet.h"

namespace nextbeat::engine {

double NllResult::mean_skipping_first() const {
  const std::int64_t n = steps - sequences;
  return n > 0 ? (total_nll - first_step_nll) / static_cast<double>(n) : 0.0;
}

double NllResult::accuracy() const {
  const auto denominator = true_positives + false_positives + false_negatives;
  return denominator > 0 ? static_cast<double>(true_positives) / static_cast<double>(denominator) : 0.0;
}

NllResult evaluate_nll(LstmModel& model, const std::vector<EncodedSequence>& sequences, bool with_accuracy,
                       int batch_size) {
  // A handle on the module (shared): evaluation switches it to eval mode and
  // runs it, without changing a weight, so the packed step stays valid.
  detail::LstmNet net = model.net().module;
  net->eval();
  torch::NoGradGuard no_grad;
  const ModelSpec& spec = model.spec();

  // Longest first, so that a batch holds sequences of similar length.
  std::vector<const EncodedSequence*> order;
  for (const auto& s : sequences)
    if (!s.steps.empty()) order.push_back(&s);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->steps.size() > b->steps.size(); });

  NllResult result;
  for (std::size_t at = 0; at < order.size(); at += static_cast<std::size_t>(batch_size)) {
    std::vector<detail::Window> windows;
    for (std::size_t i = at; i < std::min(order.size(), at + static_cast<std::size_t>(batch_size)); ++i)
      windows.push_back({order[i], 0, order[i]->steps.size()});
    const auto batch = detail::make_batch(spec, windows);
    const auto [logits, state] = net->forward(batch.inputs);
    const torch::Tensor nll = net->step_nll(logits, batch).to(torch::kFloat64);
    result.total_nll += nll.sum().item<double>();
    result.first_step_nll += nll.select(1, 0).sum().item<double>();
    result.steps += batch.targets;
    result.sequences += static_cast<std::int64_t>(windows.size());

    if (with_accuracy && spec.head != HeadKind::kSoftmax) {
      torch::Tensor predicted;
      if (spec.head == HeadKind::kSigmoid) {
        predicted = (logits > 0).to(torch::kFloat32);
      } else {
        // NADE: the most likely key given the keys below it, key by key.
        const torch::Tensor w = net->masked_nade();
        predicted = torch::zeros_like(logits);
        for (int k = 0; k < kKeys; ++k) {
          const torch::Tensor lk = logits.select(-1, k) + torch::matmul(predicted, w[k]);
          predicted.select(-1, k).copy_((lk > 0).to(torch::kFloat32));
        }
      }
      const torch::Tensor mask = batch.mask.unsqueeze(-1);
      const torch::Tensor target = batch.target_frames;
      result.true_positives += (predicted * target * mask).sum().item<std::int64_t>();
      result.false_positives += (predicted * (1 - target) * mask).sum().item<std::int64_t>();
      result.false_negatives += ((1 - predicted) * target * mask).sum().item<std::int64_t>();
    }
  }
  return result;
}

NllResult evaluate_marginals(const std::vector<EncodedSequence>& train, const std::vector<EncodedSequence>& test) {
  std::array<double, kKeys> on{};
  double frames = 0;
  for (const auto& s : train) {
    for (const auto& step : s.steps) {
      for (std::size_t k = 0; k < kKeys; ++k) on[k] += step.frame[k] ? 1.0 : 0.0;
      frames += 1;
    }
  }
  // A key never (or always) seen in training must not cost infinite nats.
  // 1e-3 reproduces the anchor in ../shared/data/README.md (JSB test 11.10);
  // a floor of 1e-6 gives 11.06, the "Note 1-Gram" of Boulanger-Lewandowski.
  constexpr double kFloor = 1e-3;
  std::array<double, kKeys> log_on{}, log_off{};
  for (std::size_t k = 0; k < kKeys; ++k) {
    const double p = std::clamp(frames > 0 ? on[k] / frames : 0.5, kFloor, 1 - kFloor);
    log_on[k] = std::log(p);
    log_off[k] = std::log1p(-p);
  }
  NllResult result;
  for (const auto& s : test) {
    for (std::size_t t = 0; t < s.steps.size(); ++t) {
      double nll = 0;
      for (std::size_t k = 0; k < kKeys; ++k) nll -= s.steps[t].frame[k] ? log_on[k] : log_off[k];
      result.total_nll += nll;
      if (t == 0) result.first_step_nll += nll;
      ++result.steps;
    }
    if (!s.steps.empty()) ++result.sequences;
  }
  return result;
}

}  // namespace nextbeat::engine
