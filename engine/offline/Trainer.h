// `nextbeat train`: AdamW with warm-up + cosine learning rate, gradient
// clipping, dropout, transposition augmentation, early stopping on the
// validation NLL, the best model saved atomically whenever validation
// improves, a checkpoint every N steps, and --resume after a kill -9 that
// continues with the same loss curve (the batch order is a function of the
// seed and epoch; the dropout RNG and AdamW state are in the checkpoint).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/codec/Codec.h"
#include "engine/model/Model.h"

namespace nextbeat::engine {

struct TrainOptions {
  std::filesystem::path out;  // the best model; OUT.ckpt, OUT.metrics.jsonl, OUT.loss.svg beside it
  ModelSpec spec;
  int max_epochs = 60;
  int batch_size = 32;
  int window = 256;  // targets per training window (truncated back-propagation)
  double lr = 2e-3;
  double min_lr_ratio = 0.05;  // the cosine ends at lr * this
  double weight_decay = 0.01;
  int warmup_steps = 100;
  double clip_norm = 1.0;
  int patience = 8;            // epochs without a better validation NLL before stopping
  int log_every = 25;          // steps between train-loss points in the metrics
  int checkpoint_every = 200;  // steps; rounded up to a multiple of log_every
  int transpose = 0;           // augmentation: each sequence shifted by -t..+t semitones per epoch
  std::uint64_t seed = 1;
  // LibTorch intra-op threads. 1 by default: for these batch sizes OpenMP's
  // spinning workers cost more than they give (measured on the 2-core build
  // machine: 10 steps took 30 s with 2 threads, 2.8 s with 1).
  int threads = 1;
  bool resume = false;
  std::optional<std::int64_t> max_steps;  // stop after this many steps (tests, smoke runs)
  // A time budget in seconds of training, counted across --resume (the
  // checkpoint keeps the time spent). At the budget the run stops between
  // steps, validates the weights if they changed since the last validation,
  // keeps the best model and writes the checkpoint. The cosine then runs
  // over whichever ends first, the steps or the budget, so that the learning
  // rate reaches its floor by the deadline (the run is then only as
  // reproducible as the machine's speed).
  std::optional<double> max_seconds;
  // Output biases start at the train-set statistics (frames: the log-odds of
  // each key being on) and each LSTM forget gate at +1, instead of at random:
  // the first steps then improve on the marginals instead of climbing down
  // to them from 88 coin flips (61 nats/frame).
  bool informed_init = true;
  nlohmann::json provenance = nlohmann::json::object();  // data and command, stored in the model
};

struct TrainProgress {
  int epoch = 0;  // 1-based
  int max_epochs = 0;
  std::int64_t step = 0;
  std::int64_t steps_per_epoch = 0;
  std::int64_t batch_in_epoch = 0;
  double train_loss = 0;             // running mean since the last log point
  std::optional<double> valid_loss;  // set at the end of an epoch
  bool improved = false;
  double tokens_per_second = 0;
  double eta_seconds = 0;
};

struct TrainResult {
  double best_valid_loss = 0;
  int best_epoch = 0;
  int epochs = 0;
  std::int64_t steps = 0;
  double seconds = 0;
  double tokens_per_second = 0;
  bool early_stopped = false;
  bool time_budget_reached = false;  // stopped at options.max_seconds
};

class TrainError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Augmentation shifts each train sequence by up to options.transpose
// semitones per epoch (dataset.h transpose(); a sequence that would leave the
// codec's range is used as it is).
TrainResult train_model(const TrainOptions& options, const std::vector<EncodedSequence>& train,
                        const std::vector<EncodedSequence>& valid,
                        const std::function<void(const TrainProgress&)>& on_progress);

// Where train_model writes its side files.
std::filesystem::path checkpoint_path(const std::filesystem::path& out);
std::filesystem::path metrics_path(const std::filesystem::path& out);
std::filesystem::path loss_curve_path(const std::filesystem::path& out);

}  // namespace nextbeat::engine
