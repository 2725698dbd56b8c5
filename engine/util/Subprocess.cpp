#include "engine/util/Subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <thread>

extern char** environ;  // NOLINT: POSIX, for posix_spawnp

namespace nextbeat::engine {
namespace {

// Spawns argv with the file actions and signal settings run_process promises; returns posix_spawnp's error.
int spawn(const std::vector<std::string>& args, const RunProcessOptions& options, pid_t& pid) {
  // posix_spawn's argv is char* const[] for C compatibility; it does not write to the strings.
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));  // NOLINT
  argv.push_back(nullptr);

  const std::string log = options.log.string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (options.stdout_to_log) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  }
  // The daemon may block or ignore signals in its threads; the child starts with the defaults.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  const int err = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return err;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const RunProcessOptions& options) {
  using Status = ProcessResult::Status;
  if (argv.empty()) throw std::invalid_argument("run_process: argv is empty");
  ProcessResult result;
  pid_t pid = 0;
  if (const int err = spawn(argv, options, pid); err != 0) {
    result.status = err == ENOENT ? Status::kNotFound : Status::kSpawnFailed;
    result.error = err;
    return result;
  }

  // Without a time limit, a blocking wait; with one, polling with a short backoff (no SIGCHLD handler to race
  // with the caller's).
  using Clock = std::chrono::steady_clock;
  const auto deadline = options.timeout ? Clock::now() + *options.timeout : Clock::time_point::max();
  auto pause = std::chrono::milliseconds(1);
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, options.timeout ? WNOHANG : 0);
    if (done == pid) break;
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) {
      result.status = Status::kWaitFailed;
      result.error = errno;
      return result;
    }
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      result.status = Status::kTimedOut;
      return result;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  if (WIFSIGNALED(status)) {
    result.status = Status::kSignaled;
    result.signal = WTERMSIG(status);
  } else {
    result.status = Status::kExited;
    result.exit_status = WEXITSTATUS(status);
  }
  return result;
}

}  // namespace nextbeat::engine
