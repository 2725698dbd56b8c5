#include "engine/offline/Trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

// Optimizers, serialization and gradient clipping: the whole API, in this one .cpp.
#include <torch/torch.h>

#include "engine/model/LstmNet.h"
#include "engine/model/ModelFile.h"
#include "engine/offline/Dataset.h"
#include "engine/offline/Evaluator.h"
#include "engine/util/AtomicFile.h"
#include "engine/util/Svg.h"

namespace nextbeat::engine {

std::filesystem::path checkpoint_path(const std::filesystem::path& out) {
  return out.string() + ".ckpt";
}
std::filesystem::path metrics_path(const std::filesystem::path& out) {
  return out.string() + ".metrics.jsonl";
}
std::filesystem::path loss_curve_path(const std::filesystem::path& out) {
  return out.string() + ".loss.svg";
}

namespace {

using Clock = std::chrono::steady_clock;

// Everything that must survive a kill for the run to continue on the same curve.
struct Progress {
  int epoch = 1;
  std::int64_t batch_in_epoch = 0;
  std::int64_t step = 0;
  double best = std::numeric_limits<double>::infinity();
  int best_epoch = 0;
  int bad_epochs = 0;
  double seconds = 0;
  std::int64_t tokens = 0;
  double running_loss = 0;  // since the last log point
  std::int64_t running_targets = 0;
  std::int64_t metrics_lines = 0;
  std::vector<CurvePoint> train_curve, valid_curve;
};

nlohmann::json curve_json(const std::vector<CurvePoint>& curve) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : curve) out.push_back({p.x, p.y});
  return out;
}

std::vector<CurvePoint> curve_from_json(const nlohmann::json& json) {
  std::vector<CurvePoint> out;
  for (const auto& p : json) out.push_back({p.at(0).get<double>(), p.at(1).get<double>()});
  return out;
}

nlohmann::json progress_json(const Progress& p) {
  return {{"epoch", p.epoch},
          {"batch_in_epoch", p.batch_in_epoch},
          {"step", p.step},
          {"best", std::isfinite(p.best) ? nlohmann::json(p.best) : nlohmann::json()},
          {"best_epoch", p.best_epoch},
          {"bad_epochs", p.bad_epochs},
          {"seconds", p.seconds},
          {"tokens", p.tokens},
          {"running_loss", p.running_loss},
          {"running_targets", p.running_targets},
          {"metrics_lines", p.metrics_lines},
          {"train_curve", curve_json(p.train_curve)},
          {"valid_curve", curve_json(p.valid_curve)}};
}

Progress progress_from_json(const nlohmann::json& j) {
  Progress p;
  p.epoch = j.at("epoch").get<int>();
  p.batch_in_epoch = j.at("batch_in_epoch").get<std::int64_t>();
  p.step = j.at("step").get<std::int64_t>();
  p.best = j.at("best").is_null() ? std::numeric_limits<double>::infinity() : j.at("best").get<double>();
  p.best_epoch = j.at("best_epoch").get<int>();
  p.bad_epochs = j.at("bad_epochs").get<int>();
  p.seconds = j.at("seconds").get<double>();
  p.tokens = j.at("tokens").get<std::int64_t>();
  p.running_loss = j.at("running_loss").get<double>();
  p.running_targets = j.at("running_targets").get<std::int64_t>();
  p.metrics_lines = j.at("metrics_lines").get<std::int64_t>();
  p.train_curve = curve_from_json(j.at("train_curve"));
  p.valid_curve = curve_from_json(j.at("valid_curve"));
  return p;
}

// The options a resumed run must share with the run that wrote the checkpoint.
nlohmann::json run_identity(const TrainOptions& o, std::size_t train_sequences, std::size_t valid_sequences) {
  return {{"spec", spec_to_json(o.spec)},
          {"max_epochs", o.max_epochs},
          {"batch_size", o.batch_size},
          {"window", o.window},
          {"lr", o.lr},
          {"min_lr_ratio", o.min_lr_ratio},
          {"weight_decay", o.weight_decay},
          {"warmup_steps", o.warmup_steps},
          {"clip_norm", o.clip_norm},
          {"transpose", o.transpose},
          {"seed", o.seed},
          {"train_sequences", train_sequences},
          {"valid_sequences", valid_sequences}};
}

// One epoch's batches, a pure function of (seed, epoch): a resumed run plans
// the same epoch again and skips the batches it had done.
struct EpochPlan {
  std::vector<EncodedSequence> transposed;  // owns the shifted copies
  std::vector<std::vector<detail::Window>> batches;
};

EpochPlan plan_epoch(const TrainOptions& o, const std::vector<EncodedSequence>& train, const Codec& codec, int epoch) {
  std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(epoch));
  EpochPlan plan;
  std::vector<const EncodedSequence*> sequences;
  std::vector<int> shifts;
  for (std::size_t i = 0; i < train.size(); ++i) {
    const int shift = o.transpose > 0 ? std::uniform_int_distribution<int>(-o.transpose, o.transpose)(rng) : 0;
    shifts.push_back(shift);
  }
  plan.transposed.reserve(train.size());
  for (std::size_t i = 0; i < train.size(); ++i) {
    EncodedSequence shifted;
    if (shifts[i] != 0) shifted = transpose(train[i], shifts[i], codec);
    if (!shifted.steps.empty()) {  // empty: a pitch would leave the range
      plan.transposed.push_back(std::move(shifted));
      sequences.push_back(&plan.transposed.back());
    } else {
      sequences.push_back(&train[i]);
    }
  }
  // Windows start at a random offset each epoch, so that no boundary is fixed.
  const auto window = static_cast<std::size_t>(o.window);
  std::vector<detail::Window> windows;
  for (const auto* s : sequences) {
    const std::size_t n = s->steps.size();
    if (n == 0) continue;
    std::size_t begin = 0;
    if (n > window) {
      const auto offset = std::uniform_int_distribution<std::size_t>(0, window - 1)(rng);
      if (offset > 0) windows.push_back({s, 0, offset});
      begin = offset;
    }
    for (; begin < n; begin += window) windows.push_back({s, begin, std::min(n, begin + window)});
  }
  std::shuffle(windows.begin(), windows.end(), rng);
  // A batch runs as long as its longest window: a 20-step window batched
  // with 256-step ones is mostly padding, computed and thrown away. So the
  // windows are sorted by length within pools of 32 batches and the batches
  // shuffled afterwards: similar lengths together, the order still random.
  const auto batch = static_cast<std::size_t>(o.batch_size);
  const auto longer = [](const detail::Window& a, const detail::Window& b) {
    return a.end - a.begin > b.end - b.begin;
  };
  for (std::size_t at = 0; at < windows.size(); at += 32 * batch) {
    const auto end = std::min(windows.size(), at + 32 * batch);
    std::stable_sort(windows.begin() + static_cast<std::ptrdiff_t>(at),
                     windows.begin() + static_cast<std::ptrdiff_t>(end), longer);
  }
  for (std::size_t at = 0; at < windows.size(); at += batch) {
    const auto end = std::min(windows.size(), at + batch);
    plan.batches.emplace_back(windows.begin() + static_cast<std::ptrdiff_t>(at),
                              windows.begin() + static_cast<std::ptrdiff_t>(end));
  }
  std::shuffle(plan.batches.begin(), plan.batches.end(), rng);
  return plan;
}

// Linear warm-up, then a cosine down to lr * min_lr_ratio. With a time
// budget the cosine follows whichever is further along, the steps or the
// seconds (`seconds` is the training time so far).
double learning_rate(const TrainOptions& o, std::int64_t step, std::int64_t total_steps, double seconds) {
  if (step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  const double span = static_cast<double>(std::max<std::int64_t>(1, total_steps - o.warmup_steps));
  double p = std::clamp(static_cast<double>(step - o.warmup_steps) / span, 0.0, 1.0);
  if (o.max_seconds && *o.max_seconds > 0) p = std::max(p, std::clamp(seconds / *o.max_seconds, 0.0, 1.0));
  return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI * p)));
}

// See TrainOptions::informed_init. Frame heads only: the head bias of key k
// is the log-odds of k sounding in a train frame (clamped away from 0 and 1;
// NADE's key-on-key weights start at 0, so this is the marginal model), and
// each layer's forget-gate bias is 1 (PyTorch's gate order: i, f, g, o), so
// the cell keeps its state until it learns to let go.
void informed_init(detail::LstmNetImpl& net, const std::vector<EncodedSequence>& train) {
  if (step_form(net.spec.codec.kind) != StepForm::kFrame) return;
  std::vector<double> on(kKeys, 0.0);
  double frames = 0;
  for (const auto& s : train) {
    for (const auto& step : s.steps) {
      for (int k = 0; k < kKeys; ++k) on[static_cast<std::size_t>(k)] += step.frame[static_cast<std::size_t>(k)];
    }
    frames += static_cast<double>(s.steps.size());
  }
  if (frames == 0) return;
  torch::NoGradGuard no_grad;
  auto bias = net.head->bias.accessor<float, 1>();
  for (int k = 0; k < kKeys; ++k) {
    const double p = std::clamp(on[static_cast<std::size_t>(k)] / frames, 1e-4, 1 - 1e-4);
    bias[k] = static_cast<float>(std::log(p / (1 - p)));
  }
  const std::int64_t h = net.spec.hidden;
  for (auto& item : net.lstm->named_parameters()) {
    if (item.key().rfind("bias_ih", 0) == 0) item.value().narrow(0, h, h).fill_(1.0);
    if (item.key().rfind("bias_hh", 0) == 0) item.value().narrow(0, h, h).zero_();
  }
}

std::vector<std::uint8_t> to_bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

TensorBlob byte_blob(const std::string& name, const std::vector<std::uint8_t>& bytes) {
  return TensorBlob{name, DType::kUInt8, {static_cast<std::int64_t>(bytes.size())}, bytes};
}

void save_checkpoint(const std::filesystem::path& path, LstmModel& model, torch::optim::AdamW& optimizer,
                     const Progress& progress, const nlohmann::json& identity) {
  // The weights the way a model file holds them, plus the trainer's parts:
  // a checkpoint also loads as a model.
  ModelFileContents contents = model.file_contents();
  contents.header["format"] = "nextbeat-checkpoint";
  contents.header["trainer"] = progress_json(progress);
  contents.header["identity"] = identity;

  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream optimizer_bytes;
  archive.save_to(optimizer_bytes);
  contents.tensors.push_back(byte_blob("trainer/optimizer", to_bytes(optimizer_bytes.str())));

  auto generator = at::detail::getDefaultCPUGenerator();
  torch::Tensor rng_state;
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    rng_state = generator.get_state();
  }
  const auto* rng = rng_state.data_ptr<std::uint8_t>();
  contents.tensors.push_back(byte_blob("trainer/rng", {rng, rng + rng_state.numel()}));
  write_model_file(path, contents);
}

Progress load_checkpoint(const std::filesystem::path& path, LstmModel& model, torch::optim::AdamW& optimizer,
                         const nlohmann::json& identity) {
  const ModelFileContents contents = read_model_file(path);
  if (contents.header.value("format", "") != "nextbeat-checkpoint")
    throw TrainError(path.string() + ": not a training checkpoint");
  const auto& saved = contents.header.at("identity");
  for (const auto& [key, value] : identity.items()) {
    if (!saved.contains(key) || saved[key] != value)
      throw TrainError(path.string() + ": cannot resume: the checkpoint was made with " + key + " = " +
                       (saved.contains(key) ? saved[key].dump() : "(none)") + ", this run has " + value.dump());
  }
  LstmModel loaded = LstmModel::load(path);
  {
    torch::NoGradGuard no_grad;
    auto dst = model.weights_for_training().module->named_parameters();
    auto src = loaded.net().module->named_parameters();
    for (auto& item : dst) item.value().copy_(src[item.key()]);
  }
  const TensorBlob* opt = contents.find("trainer/optimizer");
  const TensorBlob* rng = contents.find("trainer/rng");
  if (opt == nullptr || rng == nullptr) throw TrainError(path.string() + ": checkpoint lacks the trainer state");
  torch::serialize::InputArchive archive;
  std::istringstream optimizer_bytes(std::string(opt->data.begin(), opt->data.end()));
  archive.load_from(optimizer_bytes);
  optimizer.load(archive);

  torch::Tensor rng_state = torch::empty({static_cast<std::int64_t>(rng->data.size())}, torch::kUInt8);
  std::copy(rng->data.begin(), rng->data.end(), rng_state.data_ptr<std::uint8_t>());
  auto generator = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng_state);
  }
  return progress_from_json(contents.header.at("trainer"));
}

// Keeps the first `lines` lines of the metrics file (what the checkpoint had
// seen), so a resumed run appends exactly where the killed one had got to.
void truncate_metrics(const std::filesystem::path& path, std::int64_t lines) {
  std::ifstream in(path);
  std::string kept, line;
  for (std::int64_t i = 0; i < lines && std::getline(in, line); ++i) kept += line + '\n';
  write_text_file_atomically(path, kept);
}

std::string iso_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

TrainResult train_model(const TrainOptions& o, const std::vector<EncodedSequence>& train,
                        const std::vector<EncodedSequence>& valid,
                        const std::function<void(const TrainProgress&)>& on_progress) {
  if (train.empty()) throw TrainError("no training data");
  if (valid.empty()) throw TrainError("no validation data: early stopping and the best model need a validation split");
  if (o.batch_size < 1 || o.window < 1 || o.max_epochs < 1 || o.log_every < 1)
    throw TrainError("batch size, window, epochs and log interval must be at least 1");
  at::set_num_threads(std::max(1, o.threads));

  const auto identity = run_identity(o, train.size(), valid.size());
  const std::int64_t checkpoint_every =
      (std::max(o.checkpoint_every, o.log_every) + o.log_every - 1) / o.log_every * o.log_every;
  const auto ckpt = checkpoint_path(o.out);
  const auto metrics = metrics_path(o.out);

  LstmModel model(o.spec, o.seed);
  // Training changes the weights under the packed step; nothing here steps
  // the model (the caller loads the saved file to play it).
  auto& net = model.weights_for_training().module;
  if (o.informed_init) informed_init(*net, train);  // --resume overwrites it with the checkpoint's weights
  torch::optim::AdamW optimizer(net->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));

  Progress p;
  if (o.resume) {
    if (!std::filesystem::exists(ckpt)) throw TrainError("--resume: no checkpoint at " + ckpt.string());
    p = load_checkpoint(ckpt, model, optimizer, identity);
    truncate_metrics(metrics, p.metrics_lines);
  } else {
    write_text_file_atomically(metrics, "");
  }
  std::ofstream metrics_out(metrics, std::ios::app);
  const auto log_metrics = [&](const nlohmann::json& line) {
    metrics_out << line.dump() << '\n';
    metrics_out.flush();
    ++p.metrics_lines;
  };

  const auto codec = make_codec(o.spec.codec);
  const std::int64_t steps_per_epoch = static_cast<std::int64_t>(plan_epoch(o, train, *codec, 1).batches.size());
  const std::int64_t total_steps = steps_per_epoch * o.max_epochs;
  const auto started = Clock::now();
  const double seconds_before = p.seconds;
  const auto elapsed = [&] { return seconds_before + std::chrono::duration<double>(Clock::now() - started).count(); };
  const bool events = step_form(o.spec.codec.kind) == StepForm::kToken;

  const auto save_best = [&](double valid_loss) {
    nlohmann::json provenance = o.provenance;
    provenance["created"] = iso_time_now();
    provenance["seed"] = o.seed;
    provenance["metrics"] = {{"valid_nll", valid_loss},
                             {"nll_unit", events ? "nats per token" : "nats per frame"},
                             {"best_epoch", p.best_epoch},
                             {"steps", p.step},
                             {"train_seconds", elapsed()},
                             {"tokens_per_second", static_cast<double>(p.tokens) / std::max(1e-9, elapsed())},
                             {"train_sequences", train.size()},
                             {"valid_sequences", valid.size()},
                             {"parameters", model.parameter_count()}};
    model.set_provenance(std::move(provenance));
    model.save(o.out);
  };
  const auto checkpoint = [&] {
    p.seconds = elapsed();
    save_checkpoint(ckpt, model, optimizer, p, identity);
  };

  TrainResult result;
  bool stop = false;
  // Whether the weights changed since they were last validated.
  bool unvalidated = false;
  const auto out_of_time = [&] { return o.max_seconds && elapsed() >= *o.max_seconds; };
  for (; p.epoch <= o.max_epochs && !stop; ++p.epoch, p.batch_in_epoch = 0) {
    const EpochPlan plan = plan_epoch(o, train, *codec, p.epoch);
    for (; p.batch_in_epoch < static_cast<std::int64_t>(plan.batches.size());) {
      if (o.max_steps && p.step >= *o.max_steps) {
        stop = true;
        break;
      }
      if (out_of_time()) {
        stop = true;
        result.time_budget_reached = true;
        break;
      }
      net->train();
      const auto batch = detail::make_batch(o.spec, plan.batches[static_cast<std::size_t>(p.batch_in_epoch)]);
      const auto [logits, state] = net->forward(batch.inputs);
      const torch::Tensor nll = net->step_nll(logits, batch);
      // max: with roles a batch may hold none of nextbeat's steps (its loss is then 0).
      const torch::Tensor loss = nll.sum() / static_cast<double>(std::max<std::int64_t>(batch.targets, 1));
      optimizer.zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(net->parameters(), o.clip_norm);
      const double lr = learning_rate(o, p.step, total_steps, elapsed());
      for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      optimizer.step();

      ++p.step;
      ++p.batch_in_epoch;
      unvalidated = true;
      p.tokens += batch.targets;
      p.running_loss += nll.sum().item<double>();
      p.running_targets += batch.targets;
      const double seconds = elapsed();
      TrainProgress progress{
          p.epoch,          o.max_epochs,
          p.step,           steps_per_epoch,
          p.batch_in_epoch, p.running_loss / static_cast<double>(std::max<std::int64_t>(1, p.running_targets))};
      progress.tokens_per_second = static_cast<double>(p.tokens) / std::max(1e-9, seconds);
      progress.eta_seconds = seconds / static_cast<double>(p.step) * static_cast<double>(total_steps - p.step);
      if (p.step % o.log_every == 0) {
        log_metrics({{"step", p.step},
                     {"epoch", p.epoch},
                     {"train_loss", progress.train_loss},
                     {"lr", lr},
                     {"tokens_per_second", progress.tokens_per_second}});
        p.train_curve.push_back({static_cast<double>(p.step), progress.train_loss});
        p.running_loss = 0;
        p.running_targets = 0;
      }
      if (on_progress) on_progress(progress);
      if (p.step % checkpoint_every == 0) checkpoint();
    }
    if (stop) break;

    const double valid_loss = evaluate_nll(model, valid).mean();
    unvalidated = false;
    TrainProgress progress{p.epoch, o.max_epochs, p.step, steps_per_epoch, p.batch_in_epoch, 0, valid_loss};
    if (valid_loss < p.best) {
      p.best = valid_loss;
      p.best_epoch = p.epoch;
      p.bad_epochs = 0;
      progress.improved = true;
      save_best(valid_loss);
    } else {
      ++p.bad_epochs;
    }
    log_metrics({{"step", p.step}, {"epoch", p.epoch}, {"valid_loss", valid_loss}, {"best", progress.improved}});
    p.valid_curve.push_back({static_cast<double>(p.step), valid_loss});
    write_text_file_atomically(
        loss_curve_path(o.out),
        loss_curve_svg(p.train_curve, p.valid_curve,
                       o.out.filename().string() + (events ? ": NLL per token (nats)" : ": NLL per frame (nats)")));
    progress.tokens_per_second = static_cast<double>(p.tokens) / std::max(1e-9, elapsed());
    if (on_progress) on_progress(progress);
    if (p.bad_epochs >= o.patience) {
      result.early_stopped = true;
      stop = true;
    }
    // The checkpoint after validation says "this epoch is done".
    ++p.epoch;
    p.batch_in_epoch = 0;
    checkpoint();
    --p.epoch;
    if (!stop && p.epoch < o.max_epochs && out_of_time()) {
      stop = true;
      result.time_budget_reached = true;
    }
  }
  if (result.time_budget_reached && unvalidated && std::isfinite(p.best)) {
    // Stopped at the budget in the middle of an epoch: the steps since the
    // last validation may have made a better model. The checkpoint below
    // resumes the same epoch at the next batch.
    const double valid_loss = evaluate_nll(model, valid).mean();
    const bool improved = valid_loss < p.best;
    if (improved) {
      p.best = valid_loss;
      p.best_epoch = p.epoch;
      save_best(valid_loss);
    }
    log_metrics({{"step", p.step},
                 {"epoch", p.epoch},
                 {"valid_loss", valid_loss},
                 {"best", improved},
                 {"partial_epoch", true}});
    p.valid_curve.push_back({static_cast<double>(p.step), valid_loss});
    TrainProgress progress{p.epoch, o.max_epochs, p.step, steps_per_epoch, p.batch_in_epoch, 0, valid_loss};
    progress.improved = improved;
    progress.tokens_per_second = static_cast<double>(p.tokens) / std::max(1e-9, elapsed());
    if (on_progress) on_progress(progress);
  }
  if (!std::isfinite(p.best)) {
    // Stopped (max_steps) before any validation: validate now so that a model exists.
    p.best = evaluate_nll(model, valid).mean();
    p.best_epoch = p.epoch;
    save_best(p.best);
  }
  checkpoint();
  result.best_valid_loss = p.best;
  result.best_epoch = p.best_epoch;
  result.epochs = std::min(p.epoch, o.max_epochs);
  result.steps = p.step;
  result.seconds = elapsed();
  result.tokens_per_second = static_cast<double>(p.tokens) / std::max(1e-9, result.seconds);
  return result;
}

}  // namespace nextbeat::engine
