#include "daemon/CrashSilencer.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

namespace nextbeat::daemon::crash {
namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
constexpr long kWaitStepNs = 5'000'000;
constexpr int kWaitSteps = 60;  // 300 ms
constexpr std::size_t kAltStackBytes = 64 * 1024;

std::atomic<int> g_signal{0};
std::atomic<bool> g_silenced{false};
std::atomic<long> g_output_tid{0};
std::atomic<engine::Wakeup*> g_output_wake{nullptr};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free &&
              std::atomic<long>::is_always_lock_free && std::atomic<engine::Wakeup*>::is_always_lock_free);

long thread_id() noexcept {
  return static_cast<long>(::syscall(SYS_gettid));
}

void restore_default(int signal) noexcept {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  ::sigaction(signal, &action, nullptr);
}

void on_fatal(int signal, siginfo_t*, void*) {
  int none = 0;
  if (g_signal.compare_exchange_strong(none, signal)) {
    static constexpr char kLine[] = "nextbeat: fatal signal; ending every note before exiting\n";
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, kLine, sizeof kLine - 1);
    engine::Wakeup* wake = g_output_wake.load();
    if (wake != nullptr && thread_id() != g_output_tid.load()) {
      wake->signal();
      const timespec step{0, kWaitStepNs};
      for (int i = 0; i < kWaitSteps && !g_silenced.load(); ++i) ::clock_nanosleep(CLOCK_MONOTONIC, 0, &step, nullptr);
    }
  }
  // SA_RESETHAND has put the default action back; make sure, and die by it.
  restore_default(signal);
  ::raise(signal);
}

}  // namespace

void install(engine::Wakeup& output_wake) noexcept {
  g_output_wake.store(&output_wake);
  struct sigaction action {};
  action.sa_sigaction = on_fatal;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (const int signal : kFatalSignals) ::sigaction(signal, &action, nullptr);
}

void uninstall() noexcept {
  for (const int signal : kFatalSignals) restore_default(signal);
  g_output_wake.store(nullptr);
}

void mark_output_thread() noexcept {
  g_output_tid.store(thread_id());
}

bool requested() noexcept {
  return g_signal.load(std::memory_order_relaxed) != 0;
}

void silenced() noexcept {
  g_silenced.store(true);
}

AltStack::AltStack() noexcept {
  void* memory = ::mmap(nullptr, kAltStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return;  // no alternate stack: a stack overflow then dies without the note-offs
  stack_t stack{};
  stack.ss_sp = memory;
  stack.ss_size = kAltStackBytes;
  if (::sigaltstack(&stack, nullptr) != 0) {
    ::munmap(memory, kAltStackBytes);
    return;
  }
  memory_ = memory;
}

AltStack::~AltStack() {
  if (memory_ == nullptr) return;
  stack_t off{};
  off.ss_flags = SS_DISABLE;
  ::sigaltstack(&off, nullptr);
  ::munmap(memory_, kAltStackBytes);
}

namespace {
// Each frame holds a page the compiler cannot drop; the depth bound only
// keeps GCC from calling the recursion infinite (it is ~2,000 frames deep
// when the 8 MB stack runs out).
[[gnu::noinline]] int recurse(volatile char* above, long depth) noexcept {
  volatile char page[4096];
  page[0] = above != nullptr ? above[0] : 1;
  if (depth > (1L << 40)) return page[0];
  return recurse(page, depth + 1) + page[0];
}
}  // namespace

void overflow_stack() noexcept {
  recurse(nullptr, 0);
  std::abort();
}

}  // namespace nextbeat::daemon::crash
