// The subcommands of the nextbeat binary. Each returns the process exit code;
// errors are written to stderr (or the log) by the command itself.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace nextbeat::daemon {

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

}  // namespace nextbeat::daemon
