// `nextbeat jam`: the live engine, offline, over the performer part of a MIDI
// file (or of every .mid in a directory): writes the duet (MIDI, and
// optionally WAV and SVG) and reports how nextbeat's part fits the performer
// and the file's own accompaniment, beside two baselines (engine/offline/Jam.h).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "config/BundledModelNames.h"
#include "config/ConfigLoader.h"
#include "daemon/Commands.h"
#include "engine/model/Model.h"
#include "engine/music/MidiFile.h"
#include "engine/music/Parts.h"
#include "engine/offline/Jam.h"
#include "engine/util/AtomicFile.h"
#include "engine/util/Svg.h"
#include "io/audio/OfflineRenderer.h"

namespace nextbeat::daemon {
namespace {

namespace fs = std::filesystem;

struct JamArgs {
  std::string model;
  std::string performer;
  std::string part;
  bool hints = false;
  std::string mode;
  std::string config_path;
  std::vector<std::string> overrides;
  std::string out;
  std::string wav;
  std::string svg;
  std::string soundfont;
  bool json = false;
  bool ideal_time = false;
  std::optional<std::int64_t> seed;
};

std::string key_text(const engine::DuetKey& key) {
  return std::string(engine::key_name(key.key_pc)) + " " + std::string(engine::scale_name(key.scale));
}

// Where one input's outputs go: the paths as given for one file; in a
// directory named after each input (STEM.mid, STEM.wav, STEM.svg) for many.
fs::path output_path(const std::string& given, const fs::path& input, bool many, const char* ext) {
  if (!many) return given;
  return fs::path(given) / (input.stem().string() + ext);
}

int run_jam_command(JamArgs& a) {
  using namespace engine;
  // Settings: the config (or the built-in defaults), -o overrides, then the
  // jam's own options, which are overrides too (checked the same way).
  std::vector<std::string> overrides = a.overrides;
  const bool mode_set = std::any_of(overrides.begin(), overrides.end(),
                                    [](const std::string& o) { return o.starts_with("engine.mode="); });
  if (!a.mode.empty())
    overrides.push_back("engine.mode=" + a.mode);
  else if (!mode_set && a.config_path.empty())
    overrides.push_back("engine.mode=accompany");
  if (a.seed) overrides.push_back("sampling.seed=" + std::to_string(*a.seed));
  config::Config config =
      a.config_path.empty() ? config::default_config(overrides) : config::load_config_file(a.config_path, overrides);
  if (!a.model.empty()) config.model.path = a.model;
  const PartChoice choice = parse_part_choice(a.part);

  const std::string soundfont = a.soundfont.empty() ? config.audio.soundfont : a.soundfont;
  if (!a.wav.empty() && !fs::is_regular_file(soundfont))
    throw std::runtime_error("--wav: no soundfont at " + soundfont +
                             " (install fluid-soundfont-gm, or give --soundfont or audio.soundfont)");

  // The inputs: one file, or every .mid / .midi of a directory (sorted).
  std::vector<fs::path> inputs;
  const bool many = fs::is_directory(a.performer);
  if (many) {
    for (const auto& entry : fs::directory_iterator(a.performer)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".mid" || ext == ".midi")) inputs.push_back(entry.path());
    }
    std::sort(inputs.begin(), inputs.end());
    if (inputs.empty()) throw std::runtime_error(a.performer + ": no .mid file in the directory");
    for (const std::string* dir : {&a.out, &a.wav, &a.svg})
      if (!dir->empty()) fs::create_directories(*dir);
  } else {
    inputs.emplace_back(a.performer);
  }

  JamOptions options;
  options.config = config;
  options.ideal_time = a.ideal_time;
  options.accompaniment_as_hints = a.hints;
  if (a.hints && config.midi.split_note <= 0) {
    throw std::runtime_error("--hints needs a split point: -o midi.split_note=N (e.g. 55, G3)");
  }
  const auto base_seed = static_cast<std::uint64_t>(config.sampling.seed == 0 ? 1 : config.sampling.seed);

  JamReport pooled;
  nlohmann::json files = nlohmann::json::array();
  int failed = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const fs::path& input = inputs[i];
    Score score;
    try {
      score = read_midi_file(input);
      assign_roles(score, choice);
    } catch (const std::exception& e) {
      if (!many) throw;
      std::cerr << "nextbeat jam: skipped: " << e.what() << '\n';
      ++failed;
      continue;
    }
    const DuetKey key = file_key(score.notes);
    auto live = load_live_model(config.model.path, config.model);
    const JamRun run = run_jam(std::move(live.model), score, options);
    const JamReport report = jam_report(run, key, base_seed + i);
    pooled += report;

    const fs::path out = output_path(a.out, input, many, ".mid");
    write_midi_file(out, run.duet, run.duet.ticks_per_beat);
    if (!a.svg.empty()) {
      // The file's accompaniment as a third layer, behind the two parts.
      Score picture = run.duet;
      for (Note n : run.accompaniment) {
        n.source = 2;
        picture.notes.push_back(n);
      }
      picture.sort_notes();
      PianoRollSvgOptions svg;
      svg.title = input.filename().string() + ": performer + nextbeat (" +
                  std::string(config::enum_name(config.engine.mode)) + ")";
      svg.source_labels = {"performer", "nextbeat", "accompaniment in the file"};
      write_text_file_atomically(output_path(a.svg, input, many, ".svg"), piano_roll_svg(picture, svg));
    }
    if (!a.wav.empty()) {
      io::RenderOptions render;
      render.soundfont = soundfont;
      render.program = config.audio.program;
      render.gain = config.audio.gain;
      io::render_wav(to_render_notes(run.duet), output_path(a.wav, input, many, ".wav"), render);
    }
    files.push_back(
        {{"file", input.string()}, {"out", out.string()}, {"key", key_text(key)}, {"report", to_json(report)}});
    if (!a.json) {
      if (many) {
        std::cout << input.filename().string() << ": " << run.performer.size() << " performer notes, "
                  << run.nextbeat.size() << " nextbeat notes, " << run.engine.misses << " misses -> " << out.string()
                  << '\n';
      } else {
        std::cout << "wrote " << out.string() << " (performer " << run.performer.size() << " notes, nextbeat "
                  << run.nextbeat.size() << " notes)\n";
      }
    }
  }
  const std::string mode(config::enum_name(config.engine.mode));
  const char* timing = a.ideal_time ? "ideal (the model costs no time)" : "measured on this machine";
  if (a.json) {
    nlohmann::json doc = {{"model", config.model.path},
                          {"mode", mode},
                          {"part", a.part},
                          {"hints", a.hints},
                          {"seed", config.sampling.seed},
                          {"time", a.ideal_time ? "ideal" : "measured"},
                          {"key_method", "Krumhansl-Schmuckler over the whole file (duration-weighted)"},
                          {"files", files},
                          {"skipped", failed},
                          {"pooled", to_json(pooled)}};
    std::cout << doc.dump(2) << '\n';
  } else {
    std::cout << "\nmode " << mode << ", model " << config.model.path << ", rollout time " << timing
              << "; key per file by Krumhansl-Schmuckler over the whole file";
    if (many) std::cout << "; pooled over " << pooled.files << " files (" << failed << " skipped)";
    std::cout << "\n\n" << format_jam_report(pooled);
  }
  return 0;
}

}  // namespace

Subcommand add_jam_command(CLI::App& parent) {
  auto args = std::make_shared<JamArgs>();
  auto* cmd = parent.add_subcommand(
      "jam",
      "Play the live engine against the performer part of a MIDI file (no keyboard needed): writes the duet and "
      "scores it against the file's own accompaniment");
  cmd->add_option("--model", args->model,
                  "A model file, or " + config::bundled_model_list() + " (default: model.path)");
  cmd->add_option("--performer", args->performer, "The MIDI file to play along with, or a directory of .mid files")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--part", args->part,
                  "The performer's part: track:N (0-based track index) | channel:N (1..16) | name:TEXT (track name, "
                  "case-insensitive) | N (= track:N) | TEXT (= name:TEXT); default: the first track with notes. "
                  "Every other note is the file's accompaniment");
  cmd->add_option("--mode", args->mode, "accompany | call-response | continue (default: accompany)")
      ->check(CLI::IsMember({"accompany", "call-response", "continue"}));
  cmd->add_option("--config,-c", args->config_path, "Config file (TOML) for the engine's settings")
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--override", args->overrides, "Override a config key: -o sampling.temperature=0.8");
  cmd->add_option("--out", args->out, "The duet MIDI file to write (a directory with a directory --performer)")
      ->required();
  cmd->add_option("--wav", args->wav, "Also render the duet through FluidSynth (a directory with a directory)");
  cmd->add_option("--svg", args->svg, "Also draw a piano roll of the duet (a directory with a directory)");
  cmd->add_option("--soundfont", args->soundfont, "Soundfont for --wav (default: audio.soundfont)");
  cmd->add_flag("--json", args->json, "Print the report as JSON");
  cmd->add_flag("--hints", args->hints,
                "Split keyboard: also play the file's accompaniment below midi.split_note (-o midi.split_note=N) "
                "into the engine as the performer's chord hints");
  cmd->add_option("--seed", args->seed, "Sampling seed (sampling.seed; 0 = from the clock)");
  cmd->add_flag("--ideal-time", args->ideal_time,
                "The model costs no time: no deadline can be missed and a run with --seed is repeatable "
                "(default: each rollout costs its real time here, as live)");
  return {cmd, reporting_errors("jam", [args] { return run_jam_command(*args); })};
}

}  // namespace nextbeat::daemon
