// `nextbeat run`: the config, the runtime report, the live session (engine,
// inputs, outputs; LiveSession.h) and the control loop with its signals and
// systemd notifications.
#include <csignal>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "config/ConfigLoader.h"
#include "daemon/Commands.h"
#include "daemon/LiveSession.h"
#include "daemon/Logging.h"
#include "engine/model/Runtime.h"

namespace nextbeat::daemon {
namespace {

void log_config_error(const config::ConfigError& e) {
  for (const auto& issue : e.issues()) spdlog::error("{}", issue.to_string());
}

config::Config load(const RunOptions& options) {
  return options.config_path ? config::load_config_file(*options.config_path, options.overrides)
                             : config::default_config(options.overrides);
}

void apply_log_level(const RunOptions& options, const config::Config& config) {
  const auto level = options.log_level ? config::enum_from_name<config::LogLevel>(*options.log_level) : std::nullopt;
  set_log_level(level.value_or(config.log.level));
}

void report_runtime() {
  const auto rt = engine::runtime_info();
  spdlog::info("LibTorch {}, {} intra-op thread(s), CUDA {}", rt.torch_version, rt.intra_op_threads,
               rt.cuda_available ? std::to_string(rt.cuda_devices) + " device(s)" : std::string("not available"));
  if (rt.blas.is_reference) {
    spdlog::warn("BLAS: {} ({})", rt.blas.description, rt.blas.library_path);
  } else {
    spdlog::info("BLAS: {} ({})", rt.blas.description, rt.blas.library_path);
  }
}

}  // namespace

int run_daemon(const RunOptions& options) {
  config::Config config;
  try {
    config = load(options);
  } catch (const config::ConfigError& e) {
    log_config_error(e);
    return 1;
  }
  apply_log_level(options, config);
  spdlog::info("nextbeat {} starting with {}", NEXTBEAT_VERSION,
               options.config_path ? "config " + *options.config_path : std::string("the built-in default config"));
  report_runtime();

  boost::asio::io_context io;
  // Signals are caught from here on: one that comes while the model loads
  // is handled as soon as the loop runs.
  boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::unique_ptr<LiveSession> session;
  try {
    session = std::make_unique<LiveSession>(
        config, options.config_path ? std::optional<std::filesystem::path>(*options.config_path) : std::nullopt, io);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                             int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      sd_notify(0, "RELOADING=1");
      if (!options.config_path) {
        spdlog::info("SIGHUP: running on the built-in defaults, no config file to reload");
      } else {
        // "reloaded" only once the session took it: before, a config whose
        // model failed to load was logged as reloaded (and half applied).
        try {
          config::Config fresh = load(options);
          if (session->reload(fresh)) {
            config = std::move(fresh);
            apply_log_level(options, config);
            spdlog::info("SIGHUP: config reloaded from {}", *options.config_path);
          } else {
            spdlog::error("SIGHUP: the new config is refused; keeping the previous one");
          }
        } catch (const config::ConfigError& e) {
          log_config_error(e);
          spdlog::error("SIGHUP: the new config is refused; keeping the previous one");
        }
      }
      sd_notify(0, "READY=1");
      signals.async_wait(on_signal);
      return;
    }
    spdlog::info("{}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
    sd_notify(0, "STOPPING=1");
    session->stop();  // every note on every output ends before the process does
    io.stop();
  };
  signals.async_wait(on_signal);
  sd_notify(0, ("READY=1\nSTATUS=" + session->status_line()).c_str());
  spdlog::info("ready");
  io.run();
  spdlog::info("stopped");
  return 0;
}

}  // namespace nextbeat::daemon
