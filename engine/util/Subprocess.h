// Running a helper program (abc2midi, tar) without a shell: an argv array, stdin from /dev/null, its output in a
// log file, and a bounded wait.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace nextbeat::engine {

struct RunProcessOptions {
  std::filesystem::path log;  // created (mode 0600) or truncated; receives stderr, and stdout too when stdout_to_log
  bool stdout_to_log = true;  // false: stdout goes to /dev/null
  std::optional<std::chrono::milliseconds> timeout;  // the child is SIGKILLed after this long; empty: no limit
};

struct ProcessResult {
  enum class Status {
    kExited,       // it ran and exited: exit_status
    kSignaled,     // a signal ended it: signal
    kTimedOut,     // it ran past RunProcessOptions::timeout and was killed with SIGKILL (and reaped)
    kNotFound,     // posix_spawnp found no such program (ENOENT): nothing ran
    kSpawnFailed,  // it could not be started otherwise: error
    kWaitFailed,   // it was started but waitpid failed (error; ECHILD when SIGCHLD is ignored and the child was
                   // reaped for us): how it ended is unknown
  };
  Status status = Status::kSpawnFailed;
  int exit_status = 0;  // with kExited
  int signal = 0;       // with kSignaled
  int error = 0;        // errno, with kNotFound, kSpawnFailed and kWaitFailed

  bool succeeded() const { return status == Status::kExited && exit_status == 0; }
};

// Runs argv[0] (looked up on PATH unless it holds a '/') with argv, no shell, and waits for it. The child gets
// stdin from /dev/null, the output set by `options`, an empty signal mask and the default dispositions of
// SIGPIPE, SIGINT, SIGTERM and SIGHUP (the caller's threads may block or ignore them). It does not throw for
// how the program ends or fails to start: the result says, so each caller words its own message.
// Throws std::invalid_argument when argv is empty. Blocks the calling thread until the child ends.
ProcessResult run_process(const std::vector<std::string>& argv, const RunProcessOptions& options);

}  // namespace nextbeat::engine
