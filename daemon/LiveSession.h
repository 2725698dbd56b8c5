// What `nextbeat run` runs: the live engine on its thread, the output thread,
// MIDI in/out, OSC in/out and audio, wired as DESIGN.md "Threads and data
// flow" draws them (docs/THREADS.md lists every thread and queue).
//
// Built, reloaded and stopped on the control thread (the Asio loop of
// RunCommand.cpp). Models are loaded and warmed up there, handed to the
// engine thread through a queue, and the old one comes back the same way
// to be freed there.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "config/Config.h"

namespace nextbeat::daemon {

class LiveSession {
 public:
  // Loads the model and opens every input and output the config asks for.
  // A model that cannot be loaded throws (engine::ModelFileError); a device
  // that cannot be opened is logged and left out (no MIDI API: OSC alone).
  LiveSession(const config::Config& config, std::optional<std::filesystem::path> config_path,
              boost::asio::io_context& io);
  // As stop().
  ~LiveSession();
  LiveSession(const LiveSession&) = delete;
  LiveSession& operator=(const LiveSession&) = delete;

  // SIGHUP with a new, valid config: applied without stopping playback; a
  // changed model path swaps the model. Device settings (ports, OSC
  // address, audio) take effect at the next start, which the log says.
  // Returns false, having logged why and applied nothing, when the new
  // config is refused: its model fails to load (the old one plays on), or
  // a previous reload is still in flight.
  bool reload(const config::Config& config);
  // Ends every note on every output, stops the threads, closes the devices.
  // Within well under a second. Idempotent.
  void stop();

  // One line for the log and sd_notify STATUS=.
  std::string status_line() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nextbeat::daemon
