// The subcommands of the nextbeat binary. Each returns the process exit code;
// errors are written to stderr (or the log) by the command itself.
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace nextbeat::engine {
struct Score;
}
namespace nextbeat::io {
struct RenderNote;
}

namespace nextbeat::daemon {

// A score's notes in seconds (through its tempo map), for io::render_wav:
// `generate --wav` and `jam --wav` (defined in GenerateCommand.cpp).
std::vector<io::RenderNote> to_render_notes(const engine::Score& score);

// `nextbeat check-config FILE [-o key=value]...`: prints the effective config
// as TOML on out, or every error (file:line:col: key: message) on err.
int run_check_config(const std::string& path, const std::vector<std::string>& overrides, std::ostream& out,
                     std::ostream& err);

// `nextbeat devices`: MIDI ports and audio devices per compiled API.
int run_devices(std::ostream& out);

struct RunOptions {
  std::optional<std::string> config_path;  // none: the built-in defaults
  std::vector<std::string> overrides;      // "section.key=value"
  std::optional<std::string> log_level;    // --log-level wins over [log] level
};

// `nextbeat run`: the daemon, until SIGINT or SIGTERM.
int run_daemon(const RunOptions& options);

// The command line as typed (for model provenance); set once by main.
void set_command_line(int argc, char** argv);
const std::string& command_line();

// The offline subcommands register their own options: each returns its CLI11
// subcommand and the function that runs it once the command line is parsed.
struct Subcommand {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// The error boundary of an offline command: an exception becomes
// "nextbeat NAME: what" on stderr and exit status 1.
std::function<int()> reporting_errors(std::string name, std::function<int()> run);

// --max-voices of eval and generate (GenerateOptions::max_voices, the live
// engine's engine.max_voices), with its default shown.
void add_max_voices_option(CLI::App& cmd, int& max_voices);

Subcommand add_train_command(CLI::App& parent);     // TrainCommand.cpp
Subcommand add_eval_command(CLI::App& parent);      // EvalCommand.cpp
Subcommand add_generate_command(CLI::App& parent);  // GenerateCommand.cpp
Subcommand add_bench_command(CLI::App& parent);     // BenchCommand.cpp
Subcommand add_doctor_command(CLI::App& parent);    // DoctorCommand.cpp
Subcommand add_jam_command(CLI::App& parent);       // JamCommand.cpp

}  // namespace nextbeat::daemon
