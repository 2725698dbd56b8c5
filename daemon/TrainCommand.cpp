// `nextbeat train`: loads the data (split by file), trains, and reports
// progress as a live bar on a terminal or as plain lines otherwise.
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "daemon/Commands.h"
#include "engine/codec/EventCodec.h"
#include "engine/model/ModelFile.h"
#include "engine/offline/Dataset.h"
#include "engine/offline/Trainer.h"

namespace nextbeat::daemon {
namespace {

struct TrainArgs {
  std::vector<std::string> data;
  std::string out;
  std::string codec = "events";
  std::string head;  // default by codec
  bool resume = false;
  int ticks_per_beat = 12;
  int steps_per_beat = 1;
  double valid_fraction = 0.1;
  bool no_position_inputs = false;
  bool roles = false;
  std::string performer_part;
  bool solo_copies = false;
  bool rotate_parts = false;
  bool off_grid_performer = false;
  std::vector<std::string> include;
  bool no_informed_init = false;
  engine::TrainOptions options;
  std::int64_t max_steps = 0;
  std::string max_time;  // "" = no budget
};

// "90", "90s", "30m", "1.5h" -> seconds; nullopt if it is none of these.
std::optional<double> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  double scale = 1;
  std::string number = text;
  switch (text.back()) {
    case 's':
      number.pop_back();
      break;
    case 'm':
      scale = 60;
      number.pop_back();
      break;
    case 'h':
      scale = 3600;
      number.pop_back();
      break;
    default:
      break;
  }
  if (number.empty()) return std::nullopt;
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != number.size() || !std::isfinite(value) || value <= 0) return std::nullopt;
  return value * scale;
}

std::string duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long>(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  }
  return buf;
}

// A bar redrawn in place on a terminal; one line per log point otherwise
// (a journal or a CI log wants lines, not carriage returns).
class ProgressReporter {
 public:
  ProgressReporter(bool terminal, int log_every) : terminal_(terminal), log_every_(log_every) {}

  void operator()(const engine::TrainProgress& p) {
    if (p.valid_loss) {
      if (terminal_) std::fprintf(stderr, "\r\033[K");
      std::fprintf(stderr, "epoch %d/%d  step %lld  valid %.4f%s  %.0f tok/s\n", p.epoch, p.max_epochs,
                   static_cast<long long>(p.step), *p.valid_loss, p.improved ? "  (best, saved)" : "",
                   p.tokens_per_second);
      return;
    }
    if (terminal_) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_draw_ < std::chrono::milliseconds(100)) return;
      last_draw_ = now;
      constexpr int kWidth = 24;
      const double fraction =
          p.steps_per_epoch > 0 ? static_cast<double>(p.batch_in_epoch) / static_cast<double>(p.steps_per_epoch) : 0;
      const int filled = static_cast<int>(fraction * kWidth);
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(kWidth, '-');
      std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld  loss %.4f  %.0f tok/s  ETA %s", p.epoch, p.max_epochs,
                   bar.c_str(), static_cast<long long>(p.batch_in_epoch), static_cast<long long>(p.steps_per_epoch),
                   p.train_loss, p.tokens_per_second, duration(p.eta_seconds).c_str());
      std::fflush(stderr);
    } else if (p.step % log_every_ == 0) {
      std::fprintf(stderr, "epoch %d/%d  step %lld  train %.4f  %.0f tok/s  ETA %s\n", p.epoch, p.max_epochs,
                   static_cast<long long>(p.step), p.train_loss, p.tokens_per_second, duration(p.eta_seconds).c_str());
    }
  }

 private:
  bool terminal_;
  int log_every_;
  std::chrono::steady_clock::time_point last_draw_{};
};

int run_train(TrainArgs& a) {
  using namespace engine;
  // A training step allocates and frees tensors of several MB. glibc hands
  // blocks above 128 KiB straight back to the kernel, so each step faulted
  // them in again; kept in the heap instead (up to 32 MiB a block), a step
  // is ~7% faster here (scripts/bench.sh, train tokens/s).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  TrainOptions& o = a.options;
  o.out = a.out;
  o.resume = a.resume;
  if (a.max_steps > 0) o.max_steps = a.max_steps;
  o.informed_init = !a.no_informed_init;
  if (!a.max_time.empty()) o.max_seconds = parse_duration(a.max_time);  // checked by the option's validator

  ModelSpec& spec = o.spec;
  spec.codec.kind = codec_named(a.codec).value_or(CodecKind::kEvents);  // --codec is checked against the names
  spec.codec.ticks_per_beat = a.ticks_per_beat;
  spec.codec.steps_per_beat = a.steps_per_beat;
  spec.position_inputs = !a.no_position_inputs;
  spec.roles = a.roles;
  spec.plays_alone = a.roles && a.solo_copies;
  spec.own_time = a.roles;  // every roles model since 2026-12 (ModelSpec::own_time)
  const bool tokens = step_form(spec.codec.kind) == StepForm::kToken;
  const std::string head = a.head.empty() ? (tokens ? "softmax" : "nade") : a.head;
  spec.head = head == "softmax" ? HeadKind::kSoftmax : head == "sigmoid" ? HeadKind::kSigmoid : HeadKind::kNade;
  if (!head_fits(spec.head, step_form(spec.codec.kind))) {
    std::cerr << "nextbeat train: --head " << head << " does not fit the " << a.codec
              << " codec (events: softmax; pianoroll: sigmoid or nade)\n";
    return 2;
  }
  if (a.solo_copies && !a.roles) {
    std::cerr << "nextbeat train: --solo-copies needs --roles (without roles every part is already the model's)\n";
    return 2;
  }
  if (a.off_grid_performer && !a.roles) {
    std::cerr << "nextbeat train: --off-grid-performer needs --roles (without roles there is no performer)\n";
    return 2;
  }
  if (spec.roles && (!tokens || !spec.position_inputs)) {
    std::cerr << "nextbeat train: --roles needs the events codec and the source embedding (no --no-position-inputs)\n";
    return 2;
  }
  const auto codec = make_codec(spec.codec);
  spec.input_size = codec->input_size();

  std::vector<std::filesystem::path> inputs(a.data.begin(), a.data.end());
  DatasetOptions dataset_options;
  dataset_options.valid_fraction = a.valid_fraction;
  dataset_options.include = a.include;
  dataset_options.rotate_parts = a.rotate_parts;
  dataset_options.off_grid_performer = a.off_grid_performer;
  if (a.solo_copies) dataset_options.solo = DatasetOptions::Solo::kAlso;
  if (a.roles) {
    try {
      dataset_options.roles = parse_part_choice(a.performer_part);
    } catch (const std::invalid_argument& e) {
      std::cerr << "nextbeat train: --performer-part: " << e.what() << '\n';
      return 2;
    }
  }
  const Dataset data = load_dataset(inputs, *codec, dataset_options);
  for (const auto& w : data.warnings) std::cerr << "warning: " << w << '\n';
  std::size_t train_steps = 0;
  for (const auto& s : data.train) train_steps += s.steps.size();
  std::cerr << "data: " << data.files << " file(s), " << data.failed_files << " skipped; " << data.train.size()
            << " train / " << data.valid.size() << " valid / " << data.test.size() << " test sequences; " << train_steps
            << (tokens ? " train tokens" : " train frames") << '\n';

  o.provenance = {
      {"data", a.data},
      {"command", command_line()},
      {"files", data.files},
      {"nextbeat_version", NEXTBEAT_VERSION},
      {"dataset", {{"train", data.train.size()}, {"valid", data.valid.size()}, {"test", data.test.size()}}}};
  if (dataset_options.roles) {
    o.provenance["roles"] = {{"performer_part", describe(*dataset_options.roles)},
                             {"rotate_parts", a.rotate_parts},
                             {"solo_copies", a.solo_copies},
                             {"off_grid_performer", a.off_grid_performer}};
  }

  ProgressReporter reporter(isatty(STDERR_FILENO) != 0, o.log_every);
  const TrainResult r = train_model(o, data.train, data.valid, std::ref(reporter));
  if (isatty(STDERR_FILENO) != 0) std::fprintf(stderr, "\r\033[K");
  std::cout << "model: " << o.out.string() << "\n"
            << "best valid NLL: " << r.best_valid_loss << (tokens ? " nats/token" : " nats/frame") << " (epoch "
            << r.best_epoch << ")\n"
            << "epochs: " << r.epochs << (r.early_stopped ? " (early stop)" : "") << ", steps: " << r.steps << "\n"
            << "time: " << duration(r.seconds) << ", " << static_cast<long>(r.tokens_per_second)
            << (tokens ? " tokens/s" : " frames/s") << "\n"
            << "loss curve: " << loss_curve_path(o.out).string() << ", metrics: " << metrics_path(o.out).string()
            << "\n";
  if (r.time_budget_reached)
    std::cout << "stopped at the time budget (--max-time " << a.max_time << "); the best model is saved, --resume "
              << "with a larger --max-time continues\n";
  return 0;
}

}  // namespace

Subcommand add_train_command(CLI::App& parent) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = parent.add_subcommand("train", "Train a model on MIDI, ABC and piano-roll JSON files");
  auto& o = args->options;
  cmd->add_option("--data", args->data, "Directories, .mid/.abc/.json files or .tar.gz archives (any mix)")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--out", args->out,
                  "The model file to write (best model; .ckpt, .metrics.jsonl, .loss.svg beside it)")
      ->required();
  cmd->add_option("--codec", args->codec, "events | pianoroll")->check(CLI::IsMember({"events", "pianoroll"}));
  cmd->add_option("--head", args->head, "softmax (events) | sigmoid | nade (pianoroll; default nade)")
      ->check(CLI::IsMember({"softmax", "sigmoid", "nade"}));
  cmd->add_flag("--resume", args->resume, "Continue from OUT.ckpt (after a kill) on the same curve");
  cmd->add_option("--ticks-per-beat", args->ticks_per_beat, "events: grid ticks per beat")->check(CLI::Range(1, 96));
  cmd->add_option("--steps-per-beat", args->steps_per_beat, "pianoroll: frames per beat (JSB quarter 1)")
      ->check(CLI::Range(1, 96));
  cmd->add_option("--embed", o.spec.embed, "Input embedding size")->check(CLI::Range(1, engine::kMaxModelWidth));
  cmd->add_option("--hidden", o.spec.hidden, "LSTM hidden size")->check(CLI::Range(1, engine::kMaxModelWidth));
  cmd->add_option("--layers", o.spec.layers, "LSTM layers")->check(CLI::Range(1, engine::kMaxModelLayers));
  cmd->add_option("--dropout", o.spec.dropout, "Dropout")->check(CLI::Range(0.0, 0.95));
  cmd->add_flag("--no-position-inputs", args->no_position_inputs, "No beat/bar/source embeddings");
  cmd->add_flag("--roles", args->roles,
                "Train with roles: the performer's part (--performer-part) is listened to, the other parts are "
                "nextbeat's and the model learns to play them (events codec; multi-part MIDI or ABC files)");
  cmd->add_option("--performer-part", args->performer_part,
                  "With --roles, the performer's part: track:N (0-based), channel:N (1-16), name:TEXT, a bare "
                  "number (track) or name; empty: the first track with notes");
  cmd->add_flag("--rotate-parts", args->rotate_parts,
                "With --roles, read each train file once per part as the performer (augmentation)");
  cmd->add_flag("--solo-copies", args->solo_copies,
                "With --roles, also read each file once with every part nextbeat's, so that the model plays "
                "alone too (generate; continue and call-response after the performer stops)");
  cmd->add_flag("--off-grid-performer", args->off_grid_performer,
                "With --roles, move the performer's part of half the train files off the beat grid (one offset "
                "up to half a beat per file, up to 0.1 beat of jitter per note), so that the model keeps playing "
                "when the performer does not share nextbeat's beat");
  cmd->add_option("--include", args->include,
                  "Only music files whose path below a directory or archive input matches one of these globs "
                  "(e.g. '*/midi/*.mid')");
  cmd->add_flag("--no-informed-init", args->no_informed_init,
                "Start the output biases and forget gates at random, as nextbeat 0.1.0 did (for comparisons)");
  cmd->add_option("--epochs", o.max_epochs, "Most epochs")->check(CLI::Range(1, 100000));
  cmd->add_option("--batch", o.batch_size, "Windows per batch")->check(CLI::Range(1, 4096));
  cmd->add_option("--window", o.window, "Targets per window (truncated back-propagation)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--lr", o.lr, "Peak learning rate (AdamW)")->check(CLI::Range(1e-7, 1.0));
  cmd->add_option("--weight-decay", o.weight_decay, "AdamW weight decay")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--warmup", o.warmup_steps, "Warm-up steps")->check(CLI::Range(1, 1000000));
  cmd->add_option("--clip", o.clip_norm, "Gradient-norm clip")->check(CLI::Range(1e-6, 1e6));
  cmd->add_option("--patience", o.patience, "Epochs without improvement before stopping")->check(CLI::Range(1, 10000));
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "Steps between checkpoints")
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--transpose", o.transpose, "Augment: shift each sequence by up to +-N semitones per epoch")
      ->check(CLI::Range(0, 24));
  cmd->add_option("--valid-fraction", args->valid_fraction, "Files with no split in their path that go to validation")
      ->check(CLI::Range(0.0, 0.9));
  cmd->add_option("--seed", o.seed, "Random seed (same seed, same run)");
  cmd->add_option("--threads", o.threads, "LibTorch threads (1 is fastest for small models on few cores)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--max-steps", args->max_steps, "Stop after N steps (smoke runs; 0 = no limit)")
      ->check(CLI::Range(0L, 1L << 40));
  cmd->add_option("--max-time", args->max_time,
                  "Time budget, e.g. 90s, 30m, 1.5h (counted across --resume): stop there with the best model "
                  "saved; the learning-rate cosine ends at the budget (\"\" = none)")
      ->check(CLI::Validator(
          [](std::string& s) {
            return parse_duration(s) ? std::string() : "expected a duration such as 90s, 30m or 1.5h, got '" + s + "'";
          },
          "DURATION"));
  return {cmd, reporting_errors("train", [args] { return run_train(*args); })};
}

}  // namespace nextbeat::daemon
