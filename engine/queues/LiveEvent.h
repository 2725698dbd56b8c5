// The plain events that cross threads on the live path: what the inputs
// (MIDI, OSC, the control thread) hand to the engine, and what the engine
// hands to the outputs (MIDI, OSC, audio). Header-only, no LibTorch and no
// device headers, so that io/ can produce and consume them (target
// nextbeat::live). Trivially copyable: they travel through lock-free queues.
#pragma once

#include <cstdint>
#include <type_traits>

namespace nextbeat::engine {

enum class InputKind : std::uint8_t {
  kNoteOn,         // a = pitch 0..127, b = velocity 1..127 (velocity 0 arrives as kNoteOff)
  kNoteOff,        // a = pitch
  kControlChange,  // a = controller 0..127, b = value 0..127 (mapped to a control through [cc])
  kClock,          // MIDI timing clock 0xF8 (24 per quarter note)
  kStart,          // 0xFA
  kContinue,       // 0xFB
  kStop,           // 0xFC
  kSongPosition,   // 0xF2, a = position in sixteenth notes (0..16383)
  kControl,        // control = config::Control, value = the control's value (already validated)
  kLearn,          // control = the config::Control the next CC moved is bound to
};

struct InputEvent {
  std::int64_t time_ns = 0;  // steady clock, taken by the callback that read it
  InputKind kind = InputKind::kNoteOn;
  std::uint8_t channel = 0;  // MIDI channel 0..15 of notes and CCs
  std::uint8_t port = 0;     // which input produced it (InputHub slot)
  std::uint8_t control = 0;  // kControl, kLearn
  std::int16_t a = 0;
  std::int16_t b = 0;
  double value = 0;  // kControl
};
static_assert(std::is_trivially_copyable_v<InputEvent>);

enum class OutputKind : std::uint8_t {
  kNoteOn,   // pitch, velocity 1..127, channel
  kNoteOff,  // pitch, channel
  kBeat,     // beat = the beat number starting at time_ns (OSC /nextbeat/beat)
  kClock,    // MIDI timing clock 0xF8 (clock master)
  kStart,    // 0xFA (clock master)
  kStop,     // 0xFC (clock master)
  kProgram,  // program change: velocity = program 0..127, channel
  // Drops every pending note event and ends every note still sounding, now
  // (panic, a mode switch, the performer taking over, a model swap, exit).
  kAllNotesOff,
  // nextbeat's note-on of `pitch` at time_ns (channel, velocity) is to sound
  // as `to_pitch`, and so is its note-off: the performer's note that came
  // after it was planned would clash with it (LiveEngine::avoid_clashes).
  // Consumed by whoever keeps the timetable (OutputScheduler, the audio
  // output; engine/queues/Retune.h), never sent on. to_pitch
  // kRetuneSilence: the note does not sound at all (no pitch near fits).
  kRetune,
};
inline constexpr std::uint8_t kRetuneSilence = 255;

struct OutputEvent {
  std::int64_t time_ns = 0;  // steady clock: when it must sound
  OutputKind kind = OutputKind::kNoteOn;
  std::uint8_t channel = 0;  // 0..15
  std::uint8_t pitch = 0;
  std::uint8_t velocity = 0;
  std::uint8_t to_pitch = 0;  // kRetune
  std::int64_t beat = 0;
};
static_assert(std::is_trivially_copyable_v<OutputEvent>);

// Where the engine's output goes: the daemon's output queues, or a test's
// recorder. emit() is called on the engine thread and must not block.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  // real-time safe in the daemon's implementation: try_enqueue only.
  virtual void emit(const OutputEvent& event) noexcept = 0;
  // Sends what an earlier emit could not (a full queue's owed note-offs);
  // called on every turn of the engine loop. Same thread as emit.
  virtual void flush() noexcept {}
};

}  // namespace nextbeat::engine
