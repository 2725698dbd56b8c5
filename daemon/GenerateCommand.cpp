// `nextbeat generate`: prime a model with a MIDI (or ABC) file, continue it
// N beats under the sampling controls, and write MIDI, and optionally a WAV
// rendered offline through FluidSynth and an SVG piano roll.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "config/BundledModelNames.h"
#include "daemon/Commands.h"
#include "engine/model/Model.h"
#include "engine/music/AbcImport.h"
#include "engine/music/MidiFile.h"
#include "engine/music/MusicTheory.h"
#include "engine/offline/Generator.h"
#include "engine/util/AtomicFile.h"
#include "engine/util/Svg.h"
#include "io/audio/OfflineRenderer.h"

namespace nextbeat::daemon {
namespace {

struct GenerateArgs {
  std::string model = "default:events";
  std::string prime;
  double beats = 16;
  std::string out;
  std::string wav;
  std::string svg;
  std::string key;
  std::string scale = "major";
  engine::GenerateOptions options;
  std::string soundfont = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
  int program = 0;
};

engine::Score read_prime(const std::string& path) {
  if (path.ends_with(".abc")) {
    auto tunes = engine::import_abc_file(path);
    if (tunes.empty()) throw std::runtime_error(path + ": no tune in the file");
    return std::move(tunes.front());
  }
  return engine::read_midi_file(path);
}

int run_generate(GenerateArgs& a) {
  using namespace engine;
  auto& controls = a.options.controls;
  if (!a.key.empty()) {
    controls.key = pitch_class_of_key(a.key);
    if (!controls.key) throw std::runtime_error("--key " + a.key + ": expected a key name such as C, F#, Bb");
  }
  controls.scale = *scale_kind_of_name(a.scale);
  if (controls.pitch_min > controls.pitch_max) throw std::runtime_error("--pitch-min is above --pitch-max");
  a.options.beats = a.beats;

  LstmModel model = LstmModel::load(resolve_model_path(a.model));
  const auto codec = make_codec(model.spec().codec);
  const Score prime = prime_for(model, read_prime(a.prime));
  const Continuation c = continue_score(model, *codec, prime, a.options);

  // The prime keeps its channels; the continuation plays on the channel of
  // the prime's first note, so that a GM player keeps the sound.
  Score out = c.score;
  const int channel = prime.notes.empty() ? 0 : prime.notes.front().channel;
  for (auto& n : out.notes)
    if (n.source == 1) {
      n.channel = channel;
      n.track = 0;
    }
  write_midi_file(a.out, out);
  std::cout << "wrote " << a.out << ": " << c.generated_notes << " notes generated over " << a.beats
            << " beats from beat " << c.start_beat << '\n';
  if (!a.svg.empty()) {
    PianoRollSvgOptions svg;
    svg.title = a.prime + " + " + std::to_string(static_cast<int>(a.beats)) + " beats by " + a.model;
    svg.split_beat = c.start_beat;
    svg.source_labels = {"prime", "nextbeat"};
    write_text_file_atomically(a.svg, piano_roll_svg(out, svg));
    std::cout << "wrote " << a.svg << '\n';
  }
  if (!a.wav.empty()) {
    io::RenderOptions render;
    render.soundfont = a.soundfont;
    render.program = a.program;
    io::render_wav(to_render_notes(out), a.wav, render);
    std::cout << "wrote " << a.wav << '\n';
  }
  return 0;
}

}  // namespace

Subcommand add_generate_command(CLI::App& parent) {
  auto args = std::make_shared<GenerateArgs>();
  auto& c = args->options.controls;
  auto* cmd = parent.add_subcommand("generate", "Continue a MIDI (or ABC) file with a model");
  cmd->add_option("--model", args->model, "A model file, or " + config::bundled_model_list());
  cmd->add_option("--prime", args->prime, "The MIDI (.mid) or ABC (.abc) file to continue")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--beats", args->beats, "Beats to generate")->check(CLI::Range(0.25, 100000.0));
  cmd->add_option("--out", args->out, "The MIDI file to write (prime + continuation)")->required();
  cmd->add_option("--wav", args->wav, "Also render a WAV through FluidSynth");
  cmd->add_option("--svg", args->svg, "Also draw an SVG piano roll");
  cmd->add_option("--temperature", c.temperature, "Sampling temperature")->check(CLI::Range(0.01, 10.0));
  cmd->add_option("--top-k", c.top_k, "Only the k most likely tokens (0 = off)")->check(CLI::Range(0, 1024));
  cmd->add_option("--top-p", c.top_p, "Nucleus sampling mass")->check(CLI::Range(0.01, 1.0));
  cmd->add_option("--key", args->key, "Key constraint: C, F#, Bb, ... (with --scale)");
  cmd->add_option("--scale", args->scale, "major | minor | dorian | mixolydian | pentatonic | blues | chromatic")
      ->check(CLI::IsMember({"major", "minor", "dorian", "mixolydian", "pentatonic", "blues", "chromatic"}));
  cmd->add_option("--repetition-penalty", c.repetition_penalty, ">= 1")->check(CLI::Range(1.0, 10.0));
  cmd->add_option("--density", c.density, "Notes per beat, times the model's own rate (0.5 half, 2 twice)")
      ->check(CLI::Range(0.0, 4.0));
  cmd->add_option("--velocity-scale", args->options.velocity_scale, "Scale generated velocities")
      ->check(CLI::Range(0.0, 4.0));
  cmd->add_option("--pitch-min", c.pitch_min, "Lowest pitch")->check(CLI::Range(0, 127));
  cmd->add_option("--pitch-max", c.pitch_max, "Highest pitch")->check(CLI::Range(0, 127));
  add_max_voices_option(*cmd, args->options.max_voices);
  cmd->add_option("--seed", c.seed, "Sampling seed (0 = from the clock)");
  cmd->add_option("--soundfont", args->soundfont, "Soundfont for --wav")->check(CLI::ExistingFile);
  cmd->add_option("--program", args->program, "General MIDI program for --wav")->check(CLI::Range(0, 127));
  return {cmd, reporting_errors("generate", [args] { return run_generate(*args); })};
}

std::vector<io::RenderNote> to_render_notes(const engine::Score& score) {
  std::vector<io::RenderNote> notes;
  notes.reserve(score.notes.size());
  for (const auto& n : score.notes)
    notes.push_back({n.pitch, n.velocity, n.channel, score.seconds_at(n.start_beat), score.seconds_at(n.end_beat)});
  return notes;
}

}  // namespace nextbeat::daemon
