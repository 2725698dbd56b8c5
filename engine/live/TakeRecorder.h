// Keeping the take (/nextbeat/record): the performer's notes and nextbeat's,
// as played, with the tempo map as the clock followed it, in a Standard MIDI
// File (format 1: a tempo track, then "performer" and "nextbeat").
//
// Three parts, one per thread:
// - TakeTap, the real-time side: the engine thread hands it each performer
//   note it handles, the output thread each event it plays (nextbeat's notes
//   as they reached MIDI/OSC, and the beats, whose times are the tempo map).
//   Fixed-size events into two SPSC queues; a full queue drops and counts,
//   never blocks. Disarmed, it does nothing.
// - Take, plain data on the writer thread: every event so far, and the
//   complete SMF from them at any moment (notes still sounding end there).
// - TakeWriter, the writer thread: drains the tap every 50 ms and rewrites
//   the whole file every flush period (engine/util/AtomicFile: temporary
//   file, fsync, rename), so a crash or kill -9 leaves a valid file that
//   lacks at most the last period. Rewriting rather than appending keeps the
//   file valid at every instant with no track lengths to patch, and needs no
//   reader to cope with a torn tail; it costs O(take) a flush, about 1 MB
//   for an hour of dense playing, which is nothing once a second.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "engine/queues/LiveEvent.h"
#include "engine/queues/SpscQueue.h"

namespace nextbeat::engine {

struct TakeEvent {
  enum class Kind : std::uint8_t { kNoteOn, kNoteOff, kAllNotesOff, kBeat };
  enum class Part : std::uint8_t { kPerformer, kNextbeat };
  std::int64_t time_ns = 0;  // steady clock: when it sounded
  Kind kind = Kind::kNoteOn;
  Part part = Part::kPerformer;
  std::uint8_t channel = 0;
  std::uint8_t pitch = 0;
  std::uint8_t velocity = 0;
  std::int64_t beat = 0;  // kBeat: the clock's beat number
};
static_assert(std::is_trivially_copyable_v<TakeEvent>);

// The real-time side. Its OutputSink face is the output thread's (added to
// the output fan-out); performer() is the engine thread's.
class TakeTap final : public OutputSink {
 public:
  static constexpr std::size_t kCapacity = 16384;  // each way: ~13 s of a 1,000 events/s flood at 50 ms drains
  TakeTap() : performer_(kCapacity), played_(kCapacity) {}

  // called on: the engine thread. Note-ons and note-offs it handled.
  // real-time safe: no allocation, no locks.
  void performer(const InputEvent& event) noexcept;
  // called on: the output thread. Every event as it is played.
  // real-time safe: no allocation, no locks.
  void emit(const OutputEvent& event) noexcept override;

  // called on: the writer thread (TakeWriter).
  void arm(bool on) noexcept { armed_.store(on, std::memory_order_release); }
  bool armed() const noexcept { return armed_.load(std::memory_order_acquire); }
  bool pop_performer(TakeEvent& out) noexcept { return performer_.pop(out); }
  bool pop_played(TakeEvent& out) noexcept { return played_.pop(out); }
  // Events lost to a full queue, since start (any thread; status "record_dropped").
  std::uint64_t dropped() const noexcept { return performer_.dropped() + played_.dropped(); }

 private:
  SpscQueue<TakeEvent> performer_;
  SpscQueue<TakeEvent> played_;
  std::atomic<bool> armed_{false};
};

// A take as data. Events may come in any order across the two parts.
class Take {
 public:
  static constexpr int kTicksPerBeat = 480;
  // `tempo_bpm`: the tempo assumed where no beats were played (the clock stopped).
  Take(std::int64_t start_ns, double tempo_bpm, int beats_per_bar);
  void add(const TakeEvent& event);
  std::size_t notes() const noexcept { return notes_[0] + notes_[1]; }
  std::size_t notes(TakeEvent::Part part) const noexcept { return notes_[static_cast<std::size_t>(part)]; }
  std::size_t beats() const noexcept { return beats_.size(); }
  // The complete file as of `end_ns`: events after it are left out, notes
  // still sounding end at it. File beat positions follow the played beats
  // (the tempo map as played), bar lines on the clock's bar lines.
  std::vector<std::uint8_t> smf(std::int64_t end_ns) const;

 private:
  std::int64_t start_ns_;
  double tempo_bpm_;
  int beats_per_bar_;
  std::vector<TakeEvent> beats_;
  std::vector<TakeEvent> events_[2];  // by part
  std::size_t notes_[2] = {0, 0};
};

// The writer thread of one take. The constructor writes the (empty) file
// once, so that a path that cannot be written fails at once (throws
// std::system_error naming it), then arms the tap and starts the thread.
class TakeWriter {
 public:
  TakeWriter(std::filesystem::path path, TakeTap& tap, double tempo_bpm, int beats_per_bar,
             std::int64_t flush_period_ns = 1'000'000'000);
  ~TakeWriter();
  TakeWriter(const TakeWriter&) = delete;
  TakeWriter& operator=(const TakeWriter&) = delete;

  struct Summary {
    std::size_t performer_notes = 0;
    std::size_t nextbeat_notes = 0;
    std::string error;  // the last write's failure, "" when it was written
  };
  // Disarms the tap, takes what it still holds, ends every note still
  // sounding at this moment, writes the file a last time, joins. Once.
  Summary stop();

  const std::filesystem::path& path() const noexcept { return path_; }
  // When the file on disk was last complete (steady clock ns), for status and the kill -9 test.
  std::int64_t last_flush_ns() const noexcept { return last_flush_ns_.load(std::memory_order_relaxed); }
  // The last flush's failure ("" when fine). Any thread.
  std::string error() const;

 private:
  void run();
  void drain();
  void write(std::int64_t end_ns);

  std::filesystem::path path_;
  TakeTap& tap_;
  Take take_;
  std::int64_t flush_period_ns_;
  std::atomic<std::int64_t> last_flush_ns_{0};
  mutable std::mutex mutex_;  // stop_, error_
  std::condition_variable wake_;
  bool stop_ = false;
  bool stopped_ = false;
  std::string error_;
  std::thread thread_;
};

}  // namespace nextbeat::engine
