// `nextbeat eval`: likelihood on a split (frame-nll: the published piano-roll
// protocol; token-nll: events models) and generation metrics over
// continuations of the split's pieces.
#include <cmath>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "config/BundledModelNames.h"
#include "daemon/Commands.h"
#include "engine/model/Model.h"
#include "engine/offline/Dataset.h"
#include "engine/offline/Evaluator.h"
#include "engine/offline/Generator.h"
#include "engine/offline/Metrics.h"

namespace nextbeat::daemon {
namespace {

struct EvalArgs {
  std::string model;
  std::vector<std::string> data;
  std::string protocol;  // default by the model's codec
  std::string split = "test";
  std::string baseline;
  int steps_per_beat = 1;      // for the baseline, which has no model to say it
  int generate = 16;           // continuations for the generation metrics (0 = none)
  std::string performer_part;  // a model trained with roles: the performer's part of each file
  bool alone = false;          // a model trained with roles: every part its own, no performer
  double prime_beats = 8;
  double beats = 8;
  int max_voices = engine::GenerateOptions{}.max_voices;
  std::uint64_t seed = 1;
  bool json = false;
};

const std::vector<engine::EncodedSequence>& pick_split(const engine::Dataset& data, const std::string& split) {
  const auto& chosen = split == "train" ? data.train : split == "valid" ? data.valid : data.test;
  if (chosen.empty()) {
    throw std::runtime_error("the data has no " + split + " split (train " + std::to_string(data.train.size()) +
                             ", valid " + std::to_string(data.valid.size()) + ", test " +
                             std::to_string(data.test.size()) + " sequences); choose one with --split");
  }
  return chosen;
}

// The first prime_beats of a piece, notes cut at the boundary.
engine::Score head_of(const engine::Score& score, double beats) {
  engine::Score prime = score;
  prime.notes.clear();
  for (auto note : score.notes) {
    if (note.start_beat >= beats) continue;
    note.end_beat = std::min(note.end_beat, beats);
    prime.notes.push_back(note);
  }
  return prime;
}

nlohmann::json metrics_json(const engine::GenerationMetrics& m) {
  const auto number = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); };
  return {{"note_density_per_beat", number(m.note_density)},
          {"pitch_class_distance_to_prime", number(m.pitch_class_distance)},
          {"in_key_ratio", number(m.in_key_ratio)},
          {"onset_on_grid_ratio", number(m.onset_on_grid_ratio)},
          {"polyphony", number(m.polyphony)},
          {"pitch_range", number(m.pitch_range)},
          {"notes", number(m.note_count)}};
}

int run_eval(const EvalArgs& a) {
  using namespace engine;
  nlohmann::json report = {{"data", a.data}, {"split", a.split}};
  const std::vector<std::filesystem::path> inputs(a.data.begin(), a.data.end());

  if (a.baseline == "marginals") {
    CodecSettings settings;
    settings.kind = CodecKind::kPianoRoll;
    settings.steps_per_beat = a.steps_per_beat;
    const auto codec = make_codec(settings);
    const Dataset data = load_dataset(inputs, *codec, {});
    const NllResult r = evaluate_marginals(data.train, pick_split(data, a.split));
    report.update({{"model", "baseline: per-key train-set marginals"},
                   {"protocol", "frame-nll"},
                   {"frames", r.steps},
                   {"sequences", r.sequences},
                   {"nll", r.mean()},
                   {"nll_skipping_first_frame", r.mean_skipping_first()}});
  } else {
    if (a.model.empty()) throw std::runtime_error("--model is required (or --baseline marginals)");
    LstmModel model = LstmModel::load(resolve_model_path(a.model));
    const ModelSpec& spec = model.spec();
    const bool events = step_form(spec.codec.kind) == StepForm::kToken;  // token-nll, else frame-nll
    const std::string protocol = a.protocol.empty() ? (events ? "token-nll" : "frame-nll") : a.protocol;
    if ((protocol == "token-nll") != events)
      throw std::runtime_error("--protocol " + protocol + " needs " + (events ? "a pianoroll" : "an events") +
                               " model; " + a.model + " is " + (events ? "an events" : "a pianoroll") + " model");
    const auto codec = make_codec(spec.codec);
    // A model trained with roles is scored on nextbeat's part (the other
    // parts than the performer's), hearing the performer's as it learned to.
    DatasetOptions dataset_options;
    if (spec.roles) dataset_options.roles = parse_part_choice(a.performer_part);
    if (spec.roles && a.alone) dataset_options.solo = DatasetOptions::Solo::kOnly;
    if (a.alone && !spec.roles) std::cerr << "note: " << a.model << " has no roles; --alone changes nothing\n";
    const Dataset data = load_dataset(inputs, *codec, dataset_options);
    for (const auto& w : data.warnings) std::cerr << "warning: " << w << '\n';
    const auto& sequences = pick_split(data, a.split);
    const NllResult r = evaluate_nll(model, sequences, !events);
    report.update({{"model", a.model},
                   {"protocol", protocol},
                   {"alone", a.alone && spec.roles},
                   {"sequences", r.sequences},
                   {"nll", r.mean()}});
    if (events) {
      report["tokens"] = r.steps;
    } else {
      report.update({{"frames", r.steps},
                     {"nll_skipping_first_frame", r.mean_skipping_first()},
                     {"frame_accuracy", r.accuracy()}});
    }

    if (a.generate > 0) {
      // The same metrics for the pieces' real continuations: what a model
      // that had learned the data perfectly would score.
      std::vector<GenerationMetrics> items, reference;
      GenerateOptions options;
      options.beats = a.beats;
      options.max_voices = a.max_voices;
      for (const auto& sequence : sequences) {
        if (static_cast<int>(items.size()) >= a.generate) break;
        const Score piece = codec->decode(sequence);
        if (piece.end_beat() < a.prime_beats + a.beats) continue;
        const Score prime = head_of(piece, a.prime_beats);
        if (prime.notes.empty()) continue;
        options.controls.seed = a.seed + items.size();
        const Continuation c = continue_score(model, *codec, prime, options);
        Score continuation = c.score;
        std::erase_if(continuation.notes, [](const Note& n) { return n.source != 1; });
        MetricsOptions m;
        m.start_beat = c.start_beat;
        m.length_beats = a.beats;
        items.push_back(compute_generation_metrics(prime, continuation, m));
        Score real = piece;
        // With roles the model plays nextbeat's part alone: compare it with that part's real continuation.
        std::erase_if(real.notes, [&](const Note& n) {
          return n.start_beat < c.start_beat || n.start_beat >= c.start_beat + a.beats ||
                 (spec.roles && n.source != kAccompanimentRole);
        });
        for (auto& n : real.notes) n.end_beat = std::min(n.end_beat, c.start_beat + a.beats);
        reference.push_back(compute_generation_metrics(prime, real, m));
      }
      report["generation"] = metrics_json(mean_generation_metrics(items));
      report["generation"]["reference_real_continuations"] = metrics_json(mean_generation_metrics(reference));
      report["generation"]["continuations"] = items.size();
      report["generation"]["prime_beats"] = a.prime_beats;
      report["generation"]["beats"] = a.beats;
      report["generation"]["seed"] = a.seed;
      report["generation"]["max_voices"] = a.max_voices;
    }
  }

  if (a.json) {
    std::cout << report.dump(2) << '\n';
    return 0;
  }
  const bool frames = report.contains("frames");
  std::cout << report["protocol"].get<std::string>() << " on " << a.split << " of " << report["data"].dump() << ": "
            << report["nll"].get<double>() << (frames ? " nats/frame" : " nats/token") << " over "
            << (frames ? report["frames"] : report["tokens"]) << (frames ? " frames" : " tokens") << " in "
            << report["sequences"] << " sequences"
            << (report.value("alone", false) ? ", every part nextbeat's (--alone)" : "") << '\n';
  if (frames)
    std::cout << "  skipping each first frame (TCN's variant): " << report["nll_skipping_first_frame"] << '\n';
  if (report.contains("frame_accuracy"))
    std::cout << "  frame accuracy TP/(TP+FP+FN): " << report["frame_accuracy"] << '\n';
  if (report.contains("generation")) {
    const auto& g = report["generation"];
    std::cout << "generation over " << g["continuations"] << " continuations (" << a.prime_beats << " beats primed, "
              << a.beats << " generated):\n";
    for (const auto& [key, value] : g.items())
      if (value.is_number()) std::cout << "  " << key << ": " << value << '\n';
    std::cout << "the real continuations of the same pieces, for reference:\n";
    for (const auto& [key, value] : g["reference_real_continuations"].items())
      std::cout << "  " << key << ": " << value << '\n';
  }
  return 0;
}

}  // namespace

Subcommand add_eval_command(CLI::App& parent) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = parent.add_subcommand("eval", "Evaluate a model: NLL on a split and generation metrics");
  cmd->add_option("--model", args->model, "A model file, or " + config::bundled_model_list());
  cmd->add_option("--data", args->data, "A directory, file, archive or piano-roll JSON")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--protocol", args->protocol, "frame-nll (pianoroll) | token-nll (events)")
      ->check(CLI::IsMember({"frame-nll", "token-nll"}));
  cmd->add_option("--split", args->split, "test | valid | train")->check(CLI::IsMember({"test", "valid", "train"}));
  cmd->add_option("--baseline", args->baseline, "marginals: the independent per-key train-set baseline (no model)")
      ->check(CLI::IsMember({"marginals"}));
  cmd->add_option("--steps-per-beat", args->steps_per_beat, "Frames per beat of the JSON, for --baseline")
      ->check(CLI::Range(1, 96));
  cmd->add_option("--performer-part", args->performer_part,
                  "For a model trained with roles: the performer's part (as train --performer-part); the figures "
                  "are of the other parts, nextbeat's");
  cmd->add_flag("--alone", args->alone,
                "For a model trained with roles: every part is nextbeat's and there is no performer, as when it "
                "plays alone (generate; trained with --solo-copies)");
  cmd->add_option("--generate", args->generate, "Continuations for the generation metrics (0 = none)")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--prime-beats", args->prime_beats, "Beats of each piece that prime a continuation")
      ->check(CLI::Range(1.0, 1000.0));
  cmd->add_option("--beats", args->beats, "Beats generated per continuation")->check(CLI::Range(1.0, 1000.0));
  add_max_voices_option(*cmd, args->max_voices);
  cmd->add_option("--seed", args->seed, "Sampling seed");
  cmd->add_flag("--json", args->json, "Print the report as JSON");
  return {cmd, reporting_errors("eval", [args] { return run_eval(*args); })};
}

}  // namespace nextbeat::daemon
