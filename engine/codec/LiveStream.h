// The streaming half of a codec: live note events into model steps, and one
// beat rolled out from the model. The live engine feeds its state through
// one LiveStream; `generate` (Generator.cpp) rolls out a continuation through
// another, so both play by the same rules. One implementation per codec
// (EventLiveStream.h, PianoRollLiveStream.h), made by make_live_stream.
//
// Time is in grid ticks (events: ticks; pianoroll: frames; grid_per_beat per
// beat). Steps carry positions of tick - position_offset (see set_grid).
//
// Real-time contract: every member is noexcept and allocation-free, the
// model's step aside (the packed step does not allocate either).
// called on: the engine thread (live) or one offline thread; one stream per state.
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "engine/codec/Codec.h"
#include "engine/codec/Grid.h"
#include "engine/util/FunctionRef.h"

namespace nextbeat::engine {

class LstmModel;
class Sampler;

// A note event on the grid (the engine's own part, scheduled).
// What a note of the model's own part is to the listener and to the model
// (density, engine/model/Sampler.h): the model hears its part as it sampled
// it, so that it keeps its own rate, and density filters what sounds.
enum class NoteRole : std::uint8_t {
  kPlayed,  // sounds, and the model hears it
  kSilent,  // density < 1 left it silent: the model hears it, nobody else
  kExtra,   // density > 1 added it: it sounds, the model never hears it
};
constexpr bool sounds(NoteRole role) noexcept {
  return role != NoteRole::kSilent;
}
constexpr bool fed(NoteRole role) noexcept {
  return role != NoteRole::kExtra;
}

struct GridNote {
  std::int64_t tick = 0;
  std::uint8_t pitch = 0;
  std::uint8_t velocity = 0;          // 0 = note-off
  NoteRole role = NoteRole::kPlayed;  // a note-off has its note's role
};

using StepFn = FunctionRef<void(const Step&)>;
// A note that starts (velocity > 0, the codec's velocity before any scaling)
// or ends (0), in tick order; its off has the role of its on.
using NoteFn = FunctionRef<void(std::int64_t tick, int pitch, int velocity, NoteRole role)>;
using StopFn = FunctionRef<bool()>;

// One beat (or any span of the grid) to roll out.
struct RolloutRequest {
  std::int64_t begin = 0;  // grid ticks [begin, end); begin >= the stream's time()
  std::int64_t end = 0;
  std::span<const GridNote> pending;         // own notes scheduled but not fed yet (tick order, none kExtra): fed first
  std::array<std::int64_t, 128> on_since{};  // own notes sounding at begin (kPlayed or kSilent): note-on tick, -1 = off
  std::bitset<128> silent;                   // those of on_since that are kSilent
  std::bitset<128> held_by_others;           // keys another part holds: in the model's input, never played
  std::uint8_t source = 0;                   // of the steps fed
  int max_notes_per_beat = 24;               // events: past this a beat only lets time pass
  double max_note_beats = 8;                 // a note is ended after this long
  int max_voices = 0;                        // events: a NOTE_ON past this many held ends the oldest; 0 = no cap
  bool release_at_end = false;               // end the notes still sounding at `end` (events: NOTE_OFFs)
};

class LiveStream {
 public:
  virtual ~LiveStream() = default;

  // The grid tick that a time of `ticks` (fractional ticks) falls on.
  virtual std::int64_t grid_tick(double ticks) const noexcept = 0;
  // Meter marks for the steps' positions (borrowed: keep them alive), and the
  // offset of the positions' tick 0 on the grid.
  virtual void set_grid(std::span<const MeterMark> marks, std::int64_t position_offset) noexcept = 0;
  // Back to `tick` with nothing sounding and nothing fed.
  virtual void reset(std::int64_t tick) noexcept = 0;
  // Puts the stream after steps the batch codec encoded from tick 0 (a
  // prime), nothing sounding.
  virtual void continue_after(std::span<const Step> encoded) noexcept = 0;
  // The tick up to which steps have been fed.
  virtual std::int64_t time() const noexcept = 0;

  // One note event (velocity 0 = note-off) at `tick`, not before the last
  // one. Feeds the steps it completes: events: its tokens at once;
  // pianoroll: the frames before `tick` (the event marks the open frame).
  virtual void note(std::int64_t tick, int pitch, int velocity, std::uint8_t source, StepFn feed) noexcept = 0;
  // Time passes without an event (the live engine's idle calls). events: a
  // silence of max_shift_ticks or more moves time by one longest SHIFT, as
  // the batch encoder writes it; pianoroll: the frames before `tick` close.
  virtual void advance(std::int64_t tick, std::uint8_t source, StepFn feed) noexcept = 0;
  // Feeds everything up to `tick`: SHIFTs, or the frames before it.
  virtual void catch_up(std::int64_t tick, std::uint8_t source, StepFn feed) noexcept = 0;
  // The tick at which advance() next has a step to feed without input
  // (pianoroll: the open frame's end); INT64_MAX when none.
  virtual std::int64_t next_step_tick() const noexcept = 0;

  // Rolls out [begin, end) from the model's state, which must describe what
  // this stream has fed: on a copy of the stream, feeds request.pending and
  // catches up to begin, then samples steps from `model` and feeds them
  // (feed() steps the model; the caller snapshots and restores it). Every
  // note that starts or ends goes to on_note. stop() is asked before each
  // sampled step; true ends the rollout and it returns false. The stream
  // itself does not move (events: its own velocity carries over on success).
  virtual bool roll_out(const LstmModel& model, Sampler& sampler, const RolloutRequest& request, StepFn feed,
                        NoteFn on_note, StopFn stop) noexcept = 0;
};

// Room for one LiveStream, in place: the live engine changes codecs (a model
// swap) without allocating.
class LiveStreamSlot {
 public:
  static constexpr std::size_t kBytes = 4096;

  LiveStreamSlot() noexcept = default;
  ~LiveStreamSlot() { clear(); }
  LiveStreamSlot(const LiveStreamSlot&) = delete;
  LiveStreamSlot& operator=(const LiveStreamSlot&) = delete;

  template <class T, class... Args>
  T& emplace(Args&&... args) noexcept {
    static_assert(sizeof(T) <= kBytes && alignof(T) <= alignof(std::max_align_t), "LiveStreamSlot: too small");
    static_assert(std::is_nothrow_constructible_v<T, Args...>);
    clear();
    T* stream = ::new (static_cast<void*>(storage_)) T(std::forward<Args>(args)...);
    stream_ = stream;
    return *stream;
  }
  void clear() noexcept {
    if (stream_ != nullptr) std::exchange(stream_, nullptr)->~LiveStream();
  }
  LiveStream* get() const noexcept { return stream_; }
  LiveStream& operator*() const noexcept { return *stream_; }
  LiveStream* operator->() const noexcept { return stream_; }

 private:
  alignas(std::max_align_t) std::byte storage_[kBytes];
  LiveStream* stream_ = nullptr;
};

// The codec's stream for `settings`, built in `slot` (what it held is destroyed).
// Settings are clamped, not checked: the model file or config was checked before.
LiveStream& make_live_stream(const CodecSettings& settings, LiveStreamSlot& slot) noexcept;

}  // namespace nextbeat::engine
