// Where nextbeat's notes fan out to every output (docs/ARCHITECTURE.md, "A
// note from the keyboard to the synth"). Two stages, one per thread:
//
//   engine thread:  EngineOutputs   -> the output thread's timetable queue
//                                   -> the audio callback's queue (FluidSynth renders
//                                      each note on its sample, so it takes events early)
//   output thread:  OutputFanout    -> MIDI out (RtMidi) and OSC out (liblo), each event
//                                      at its time (engine/live/OutputScheduler.h)
#pragma once

#include <atomic>
#include <utility>
#include <vector>

#include "engine/queues/LiveEvent.h"
#include "engine/queues/OutputGuard.h"
#include "engine/queues/SpscQueue.h"
#include "engine/queues/Wakeup.h"

namespace nextbeat::daemon {

// The engine's OutputSink. called on: the engine thread.
// real-time safe: no allocation, no locks (queue pushes and a semaphore post).
// A full queue never loses a note-off or an all-notes-off (OutputGuard): they
// go out on the next flush(), which the engine loop calls every turn.
class EngineOutputs final : public engine::OutputSink {
 public:
  EngineOutputs(engine::SpscQueue<engine::OutputEvent>& to_output, engine::Wakeup& output_wake,
                engine::OutputSink* audio)
      : to_output_(to_output), output_wake_(output_wake), audio_(audio) {}
  void emit(const engine::OutputEvent& event) noexcept override {
    to_output_.push(event);
    output_wake_.signal();
    if (audio_ != nullptr) audio_->emit(event);
  }
  void flush() noexcept override {
    if (to_output_.owes()) {
      to_output_.flush();
      output_wake_.signal();
    }
    if (audio_ != nullptr) audio_->flush();
  }
  // Whether ends are still owed (the engine loop then comes back soon).
  bool owes() const noexcept { return to_output_.owes(); }
  // called on: any thread.
  std::uint64_t dropped() const noexcept { return to_output_.dropped(); }

 private:
  engine::OutputGuard to_output_;
  engine::Wakeup& output_wake_;
  engine::OutputSink* audio_;  // nullptr without [audio]
};

// The output thread's sinks: every output the config opened, in one call.
// A sink can be switched off from another thread: RtMidi's JACK output
// blocks once its ring buffer fills after the JACK server died, which would
// hang the output thread (and the exit that joins it).
class OutputFanout final : public engine::OutputSink {
 public:
  // Set up before the output thread starts.
  void add(engine::OutputSink* sink, const std::atomic<bool>* enabled = nullptr) {
    if (sink != nullptr) sinks_.push_back({sink, enabled});
  }
  // called on: the output thread.
  void emit(const engine::OutputEvent& event) noexcept override {
    for (const auto& [sink, enabled] : sinks_)
      if (enabled == nullptr || enabled->load(std::memory_order_relaxed)) sink->emit(event);
  }

 private:
  std::vector<std::pair<engine::OutputSink*, const std::atomic<bool>*>> sinks_;
};

}  // namespace nextbeat::daemon
