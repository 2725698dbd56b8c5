// nextbeat: one binary, one subcommand per job (DESIGN.md "One binary").
// Subcommands that are not built yet are absent, not stubs.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "config/Config.h"
#include "daemon/Commands.h"
#include "daemon/Logging.h"

namespace {

std::vector<std::string> log_level_names() {
  std::vector<std::string> names;
  names.reserve(nextbeat::config::EnumNames<nextbeat::config::LogLevel>::kNames.size());
  for (const auto& [level, name] : nextbeat::config::EnumNames<nextbeat::config::LogLevel>::kNames)
    names.emplace_back(name);
  return names;
}

std::string g_command_line;

}  // namespace

namespace nextbeat::daemon {
void set_command_line(int argc, char** argv) {
  g_command_line.clear();
  for (int i = 0; i < argc; ++i) g_command_line += (i > 0 ? " " : "") + std::string(argv[i]);
}
const std::string& command_line() {
  return g_command_line;
}

void add_max_voices_option(CLI::App& cmd, int& max_voices) {
  cmd.add_option("--max-voices", max_voices,
                 "Events models: at most this many generated notes at once, a new one ends the oldest (0 = no cap)")
      ->check(CLI::Range(0, 32))
      ->capture_default_str();
}

std::function<int()> reporting_errors(std::string name, std::function<int()> run) {
  return [name = std::move(name), run = std::move(run)] {
    try {
      return run();
    } catch (const std::exception& e) {
      // On a terminal, first clear a progress bar the command may have drawn.
      if (isatty(STDERR_FILENO) != 0) std::cerr << "\r\033[K";
      std::cerr << "nextbeat " << name << ": " << e.what() << '\n';
      return 1;
    }
  };
}
}  // namespace nextbeat::daemon

int main(int argc, char** argv) {
  using namespace nextbeat;
  // Never let a JACK client in this process start a JACK server with
  // settings of its own: a missing server is reported, not papered over.
  setenv("JACK_NO_START_SERVER", "1", 0);
  daemon::set_command_line(argc, argv);

  CLI::App app{"nextbeat: listens to a performer, predicts the next beat and plays it", "nextbeat"};
  app.set_version_flag("--version", std::string("nextbeat ") + NEXTBEAT_VERSION);
  app.require_subcommand(1);
  // Every option's --help line shows its default (subcommands inherit this).
  app.option_defaults()->always_capture_default();
  app.fallthrough();
  std::optional<std::string> log_level;
  app.add_option("--log-level", log_level,
                 "trace | debug | info | warn | error | critical | off (overrides [log] level)")
      ->check(CLI::IsMember(log_level_names()));

  daemon::RunOptions run_options;
  auto* run = app.add_subcommand("run", "Run the daemon (built-in default config if --config is not given)");
  run->add_option("--config,-c", run_options.config_path, "Config file (TOML)")->check(CLI::ExistingFile);
  run->add_option("-o,--override", run_options.overrides, "Override a key: -o sampling.temperature=0.8");

  std::string config_path;
  std::vector<std::string> check_overrides;
  auto* check = app.add_subcommand("check-config", "Validate a config file and print the effective config as TOML");
  check->add_option("file", config_path, "Config file (TOML)")->required();
  check->add_option("-o,--override", check_overrides, "Override a key: -o sampling.temperature=0.8");

  auto* devices = app.add_subcommand("devices", "List MIDI ports and audio devices for each compiled API");
  const std::vector<daemon::Subcommand> offline{daemon::add_train_command(app),    daemon::add_eval_command(app),
                                                daemon::add_generate_command(app), daemon::add_bench_command(app),
                                                daemon::add_doctor_command(app),   daemon::add_jam_command(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  const auto level = log_level ? config::enum_from_name<config::LogLevel>(*log_level) : std::nullopt;
  daemon::init_logging(level.value_or(config::LogLevel::kInfo));

  if (run->parsed()) {
    run_options.log_level = log_level;
    return daemon::run_daemon(run_options);
  }
  if (check->parsed()) return daemon::run_check_config(config_path, check_overrides, std::cout, std::cerr);
  if (devices->parsed()) return daemon::run_devices(std::cout);
  for (const auto& sub : offline)
    if (sub.app->parsed()) return sub.run();
  return EXIT_FAILURE;
}
