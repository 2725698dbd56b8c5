// Real peers for the JACK tests of io/: child processes (the python3-rtmidi
// MIDI client of midi_peer.py, jack_rec, jack_connect) with their stdin and
// stdout on pipes. Failures throw std::runtime_error, which Catch2 reports
// as the test's failure with the message.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace nextbeat::test {

using std::chrono::milliseconds;

// Generous: these only turn a hang into a failure. Tests assert behaviour,
// not speed (the machines are shared and noisy).
inline constexpr milliseconds kPatience{10'000};

std::int64_t steady_now_ns();

// Polls `condition` every `interval` until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, milliseconds timeout = kPatience,
                milliseconds interval = milliseconds(20));

// A child process; its stdin and stdout are pipes, its stderr is ours.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
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

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::optional<int> status_;
};

// Runs a command to completion (jack_connect...); returns its exit status.
int run(const std::vector<std::string>& argv);

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
