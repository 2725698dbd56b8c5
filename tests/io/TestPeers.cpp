#include "TestPeers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

#ifndef NEXTBEAT_MIDI_PEER
#error "NEXTBEAT_MIDI_PEER must name tests/io/midi_peer.py"
#endif

namespace nextbeat::test {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::string describe(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& arg : argv) text += (text.empty() ? "" : " ") + arg;
  return text;
}

int status_of(int raw) {
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

// A child that exits while we write to its stdin must fail the test, not
// kill the test process with SIGPIPE.
void ignore_sigpipe() {
  static const bool done = [] {
    ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

}  // namespace

bool wait_until(const std::function<bool()>& condition, milliseconds timeout, milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
  return true;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<engine::InputEvent> wait_events(engine::InputHub& hub, std::size_t count, milliseconds timeout) {
  std::vector<engine::InputEvent> events;
  const std::int64_t deadline_ns = steady_now_ns() + std::chrono::nanoseconds(timeout).count();
  while (events.size() < count && steady_now_ns() < deadline_ns) {
    engine::InputEvent event;
    if (hub.pop(event)) {
      events.push_back(event);
    } else {
      hub.wait_until(std::min(deadline_ns, steady_now_ns() + 50'000'000));
    }
  }
  return events;
}

Child::Child(const std::vector<std::string>& argv) {
  start(argv, nullptr);
}

Child::Child(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  start(argv, &log);
}

void Child::start(const std::vector<std::string>& argv, const std::filesystem::path* log) {
  ignore_sigpipe();
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) fail("pipe");
  if (log != nullptr) {
    out[0] = -1;
    out[1] = ::open(log->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out[1] < 0) fail("opening " + log->string());
  } else if (::pipe2(out, O_CLOEXEC) != 0) {
    fail("pipe");
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) fail("fork");
  if (pid_ == 0) {
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    if (log != nullptr) ::dup2(out[1], STDERR_FILENO);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
}

Child::~Child() {
  close_stdin();
  if (!wait(kPatience)) {
    ::kill(pid_, SIGKILL);
    wait(kPatience);
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

void Child::write_line(const std::string& line) {
  const std::string text = line + "\n";
  if (::write(stdin_fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) fail("writing to a child");
}

std::optional<std::string> Child::read_line(milliseconds timeout) {
  if (stdout_fd_ < 0) return std::nullopt;  // its output goes to a log
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (const auto newline = buffer_.find('\n'); newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd fd{stdout_fd_, POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char chunk[4096];
    const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) return std::nullopt;  // end of file: the child has gone
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

void Child::close_stdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

std::optional<int> Child::wait(milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int raw = 0;
    const pid_t done = ::waitpid(pid_, &raw, WNOHANG);
    if (done == pid_) return status_ = status_of(raw);
    if (done < 0) return status_ = -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

void Child::terminate() {
  if (status_) return;
  ::kill(pid_, SIGTERM);
  if (!wait(kPatience)) {
    ::kill(pid_, SIGKILL);
    wait(kPatience);
  }
}

namespace {

int finish(Child& child, const std::vector<std::string>& argv) {
  child.close_stdin();
  const std::optional<int> status = child.wait();
  if (!status) throw std::runtime_error("did not finish: " + describe(argv));
  return *status;
}

}  // namespace

int run(const std::vector<std::string>& argv) {
  Child child(argv);
  return finish(child, argv);
}

int run(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  Child child(argv, log);
  return finish(child, argv);
}

MidiPeer::MidiPeer(Mode mode, const std::string& client, const std::string& port)
    : child_({"/usr/bin/python3", NEXTBEAT_MIDI_PEER, mode == Mode::kSend ? "send" : "receive", client, port}),
      port_name_(client + ":" + port) {
  const std::optional<std::string> line = child_.read_line();
  if (line != "ready") {
    throw std::runtime_error("midi_peer.py " + client + " did not start (it said: " + line.value_or("nothing") + ")");
  }
}

MidiPeer::~MidiPeer() {
  try {
    quit();
  } catch (...) {
    // The Child destructor still ends the process.
  }
}

void MidiPeer::send(const std::string& hex_bytes) {
  child_.write_line(hex_bytes);
  const std::optional<std::string> line = child_.read_line();
  if (line != "sent") throw std::runtime_error("midi_peer.py did not send " + hex_bytes);
}

std::optional<std::string> MidiPeer::receive(milliseconds timeout) {
  std::optional<std::string> line = child_.read_line(timeout);
  if (line == "bye") return std::nullopt;
  return line;
}

void MidiPeer::quit() {
  if (quit_) return;
  quit_ = true;
  child_.write_line("quit");
  // A receiver may still print messages before "bye".
  for (std::optional<std::string> line; (line = child_.read_line()) && *line != "bye";) {
  }
  if (child_.wait() != 0) throw std::runtime_error("midi_peer.py " + port_name_ + " did not exit cleanly");
}

}  // namespace nextbeat::test
