// On a fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT), a best-effort
// all-notes-off before the process dies (issue 12, item 6), so that a crash
// on stage does not leave the synth droning until the restart.
//
// What the handler does is async-signal-safe only: a lock-free atomic store,
// sem_post (the output thread's Wakeup), write(2) of a fixed line,
// clock_nanosleep, sigaction and raise. It does not touch RtMidi, liblo or
// the heap: the output thread, the one thread that ever writes the MIDI and
// OSC ports, sees the flag and sends the note-offs and all-notes-off there,
// as on a clean stop; the handler waits up to 300 ms for it to say so, then
// re-raises the signal with its default action (core dump, exit status, and
// systemd's Restart= as before). When the output thread itself is the one
// that faulted, nothing is sent. The start-up all-notes-off of the next run
// covers what this misses.
#pragma once

#include "engine/queues/Wakeup.h"

namespace nextbeat::daemon::crash {

// Installs the handlers; `output_wake` wakes the output thread. Call once,
// before the threads start.
void install(engine::Wakeup& output_wake) noexcept;
// Puts back the default actions (the session is ending).
void uninstall() noexcept;

// called on: the output thread. Records which thread that is.
void mark_output_thread() noexcept;
// called on: the output thread, every turn. True once a fatal signal arrived.
bool requested() noexcept;
// called on: the output thread, once its notes are ended.
void silenced() noexcept;

// An alternate signal stack for the calling thread, so that a stack overflow
// reaches the handler too (each thread needs its own). RAII.
class AltStack {
 public:
  AltStack() noexcept;
  ~AltStack();
  AltStack(const AltStack&) = delete;
  AltStack& operator=(const AltStack&) = delete;

 private:
  void* memory_ = nullptr;
};

// NEXTBEAT_FAULT_CRASH_ENGINE_MS (tests only): overflows the calling
// thread's stack, a real SIGSEGV as a runaway recursion would cause.
[[noreturn]] void overflow_stack() noexcept;

}  // namespace nextbeat::daemon::crash
