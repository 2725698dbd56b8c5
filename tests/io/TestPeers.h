// Real peers for the tests of io/: child processes (the python3-rtmidi MIDI
// client of midi_peer.py, jack_rec, jack_connect, oscsend, oscdump, Pure
// Data) with their stdin on a pipe and their stdout on a pipe or in a log
// file. Failures throw std::runtime_error, which Catch2 reports as the
// test's failure with the message.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/queues/InputHub.h"
#include "engine/queues/SteadyTime.h"

namespace nextbeat::test {

using engine::steady_now_ns;
using std::chrono::milliseconds;

// Generous: these only turn a hang into a failure. Tests assert behaviour,
// not speed (the machines are shared and noisy).
inline constexpr milliseconds kPatience{10'000};

// Polls `condition` every `interval` until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, milliseconds timeout = kPatience,
                milliseconds interval = milliseconds(20));

// Pops events from the hub as the engine thread would (in time order), until
// `count` arrived or `timeout` passed; what arrived.
std::vector<engine::InputEvent> wait_events(engine::InputHub& hub, std::size_t count, milliseconds timeout = kPatience);

// The whole of a text file ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);

// A child process; its stdin and stdout are pipes, its stderr is ours.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  // Its stdout and stderr go to `log` (created or truncated) instead: for
  // peers that print as they like (read it with read_file; read_line has
  // nothing).
  Child(const std::vector<std::string>& argv, const std::filesystem::path& log);
  // Closes stdin and waits for the child to exit; kills it after kPatience.
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void write_line(const std::string& line);
  // The next line of its stdout, without the newline; nullopt on timeout or
  // end of file.
  std::optional<std::string> read_line(milliseconds timeout = kPatience);
  void close_stdin();
  // Its exit status (or 128 + signal); nullopt when it is still running
  // after `timeout`.
  std::optional<int> wait(milliseconds timeout = kPatience);
  // SIGTERM, then waits (SIGKILL after kPatience): for peers that run until
  // told to stop (oscdump).
  void terminate();

 private:
  void start(const std::vector<std::string>& argv, const std::filesystem::path* log);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::optional<int> status_;
};

// Runs a command to completion (jack_connect...); returns its exit status.
// Throws when it has not finished after kPatience.
int run(const std::vector<std::string>& argv);
// The same with its stdout and stderr in `log`.
int run(const std::vector<std::string>& argv, const std::filesystem::path& log);

// A JACK MIDI client (tests/io/midi_peer.py) with a virtual port
// "client:port". The constructor returns once the port exists.
class MidiPeer {
 public:
  enum class Mode { kSend, kReceive };
  MidiPeer(Mode mode, const std::string& client, const std::string& port);
  ~MidiPeer();  // quit() unless done

  // The port's full JACK name (the test's server has no other client of
  // that name, so JACK keeps it).
  const std::string& port_name() const { return port_name_; }
  // kSend: sends one message ("90 3c 64") and waits until it is handed to JACK.
  void send(const std::string& hex_bytes);
  // kReceive: the next message received, as "90 3c 64"; nullopt on timeout.
  std::optional<std::string> receive(milliseconds timeout = kPatience);
  // Closes the port and the JACK client, and waits for the process to exit.
  void quit();

 private:
  Child child_;
  std::string port_name_;
  bool quit_ = false;
};

}  // namespace nextbeat::test
