// Likelihood evaluation: the published piano-roll protocol (frame-nll) and
// token NLL for events models. See ../shared/data/README.md "Benchmark
// protocol": the NLL of each predicted step, in nats, pooled over all steps of
// a split (not averaged per sequence). Every step is predicted, the first from
// the start step; first_step_nll lets the TCN variant (which skips each
// sequence's first frame) be reported too.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/codec/Codec.h"
#include "engine/model/Model.h"

namespace nextbeat::engine {

struct NllResult {
  double total_nll = 0;  // nats
  std::int64_t steps = 0;
  double first_step_nll = 0;  // summed over sequences
  std::int64_t sequences = 0;
  // Frame accuracy TP / (TP + FP + FN), pooled (pianoroll; prediction = the
  // most likely frame: keys with p > 0.5, decided key by key for NADE).
  std::int64_t true_positives = 0, false_positives = 0, false_negatives = 0;

  double mean() const { return steps > 0 ? total_nll / static_cast<double>(steps) : 0.0; }
  double mean_skipping_first() const;
  double accuracy() const;
};

// Runs every sequence from the start step with its whole context. Leaves the
// model in inference mode.
NllResult evaluate_nll(LstmModel& model, const std::vector<EncodedSequence>& sequences, bool with_accuracy = false,
                       int batch_size = 16);

// The trivial anchor of the protocol: each key an independent Bernoulli with
// its train-set frequency, clamped to [1e-3, 1 - 1e-3].
NllResult evaluate_marginals(const std::vector<EncodedSequence>& train, const std::vector<EncodedSequence>& test);

}  // namespace nextbeat::engine
