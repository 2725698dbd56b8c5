// The `events` codec: NOTE_ON / NOTE_OFF / VELOCITY / SHIFT tokens on a grid of
// ticks_per_beat, and the streaming encoder the live path feeds one event at a
// time. The batch encode() runs the same EventEncoder, so training and live play
// produce identical tokens for the same events.
//
// Token layout (stored in model files through CodecSettings; do not reorder):
//   NOTE_ON(p)   = p                                   p = 0..127
//   NOTE_OFF(p)  = 128 + p
//   VELOCITY(b)  = 256 + b                             b = 0..velocity_bins-1, uniform bins over 1..127
//   SHIFT(k)     = 256 + velocity_bins + (k - 1)       k = 1..max_shift_ticks grid ticks
//   vocabulary   = 256 + velocity_bins + max_shift_ticks (384 with the defaults)
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/codec/Codec.h"
#include "engine/codec/Grid.h"

namespace nextbeat::engine {

// ---- Token layout ----------------------------------------------------------------

struct EventLayout {
  static constexpr int kPitches = 128;
  static constexpr int kNoteOnBase = 0;
  static constexpr int kNoteOffBase = 128;
  static constexpr int kVelocityBase = 256;

  int velocity_bins = 32;
  int max_shift_ticks = 96;

  static constexpr bool is_note_on(int id) noexcept { return id >= kNoteOnBase && id < kNoteOffBase; }
  static constexpr bool is_note_off(int id) noexcept { return id >= kNoteOffBase && id < kVelocityBase; }
  static constexpr bool is_note(int id) noexcept { return id >= kNoteOnBase && id < kVelocityBase; }
  // The pitch of a NOTE_ON or NOTE_OFF token.
  static constexpr int pitch_of(int id) noexcept { return id & (kPitches - 1); }
  static constexpr int note_on_token(int pitch) noexcept { return kNoteOnBase + pitch; }
  static constexpr int note_off_token(int pitch) noexcept { return kNoteOffBase + pitch; }

  constexpr int shift_base() const noexcept { return kVelocityBase + velocity_bins; }
  constexpr int vocabulary_size() const noexcept { return shift_base() + max_shift_ticks; }

  constexpr bool is_velocity(int id) const noexcept { return id >= kVelocityBase && id < shift_base(); }
  constexpr int velocity_bin_of(int id) const noexcept { return id - kVelocityBase; }
  constexpr int velocity_token(int bin) const noexcept { return kVelocityBase + bin; }

  constexpr bool is_shift(int id) const noexcept { return id >= shift_base() && id < vocabulary_size(); }
  constexpr int shift_ticks_of(int id) const noexcept { return id - shift_base() + 1; }
  constexpr int shift_token(int ticks) const noexcept { return shift_base() + ticks - 1; }

  // MIDI velocity 1..127 (clamped) -> bin: floor((v - 1) * bins / 127).
  constexpr int velocity_bin(int velocity) const noexcept {
    const int v = velocity < 1 ? 1 : (velocity > 127 ? 127 : velocity);
    return (v - 1) * velocity_bins / 127;
  }
  // Bin -> the middle velocity of the bin; velocity_bin(bin_velocity(b)) == b for every b.
  constexpr int bin_velocity(int bin) const noexcept {
    const int lo = (bin * 127 + velocity_bins - 1) / velocity_bins;            // smallest v-1 in the bin
    const int hi = ((bin + 1) * 127 + velocity_bins - 1) / velocity_bins - 1;  // largest v-1 in the bin
    return 1 + (lo + hi) / 2;
  }
};

// ---- Streaming encoder -----------------------------------------------------------

// Turns timestamped note events into tokens, one event at a time. Times are
// absolute grid ticks. Keeps the current time, the last VELOCITY bin and the
// sounding pitches.
//
// Each call first emits SHIFT tokens up to the event's tick (several when the gap
// is longer than max_shift_ticks), then the event's tokens. A SHIFT carries the
// beat/bar position of the time before it moves, and the source of the call that
// emitted it. A call returns false when `out` runs out of room; what it wrote is
// consistent (time moved only by the SHIFTs written, no half event), so the caller
// drains `out` and calls again with the same arguments.
//
// Events earlier than the current time (late live input) count as now.
// called on: engine thread (live) or any thread (batch); one encoder per stream.
class EventEncoder {
 public:
  // At most this many tokens per note event, after the SHIFTs: NOTE_OFF (retrigger), VELOCITY, NOTE_ON.
  static constexpr std::size_t kMaxTokensPerNote = 3;

  explicit EventEncoder(const CodecSettings& settings) noexcept;

  // Back to `tick` with no pitch sounding and no VELOCITY sent yet.
  void reset(std::int64_t tick = 0) noexcept;
  // Meter marks for bar_beat (4/4 from tick 0 when empty); borrowed: keep them alive.
  void set_meter_marks(std::span<const MeterMark> marks) noexcept { position_.set_marks(marks); }

  // real-time safe: no allocation, no locks (all four).
  bool advance_to(std::int64_t tick, std::uint8_t source, StepWriter& out) noexcept;
  // VELOCITY only when the bin differs from the last one sent; a pitch already
  // sounding gets its NOTE_OFF first (retrigger). Velocity 0 is a note-off (MIDI
  // convention). Pitches outside 0..127 are ignored.
  bool note_on(std::int64_t tick, int pitch, int velocity, std::uint8_t source, StepWriter& out) noexcept;
  // A pitch that is not sounding produces nothing (and does not move time).
  bool note_off(std::int64_t tick, int pitch, std::uint8_t source, StepWriter& out) noexcept;

  std::int64_t time() const noexcept { return time_; }
  bool sounding(int pitch) const noexcept { return pitch >= 0 && pitch < 128 && sounding_[pitch]; }
  const EventLayout& layout() const noexcept { return layout_; }

 private:
  void emit(int token, std::uint8_t source, StepWriter& out) noexcept;

  EventLayout layout_;
  GridPosition position_;
  std::int64_t time_ = 0;
  int last_velocity_bin_ = -1;  // -1: no VELOCITY sent yet
  std::bitset<128> sounding_;
};

// ---- The codec -------------------------------------------------------------------

// Encoding rules (the batch path):
// - drum-channel notes are dropped unless include_drums; pitches outside 0..127 are dropped;
// - times are rounded to the nearest grid tick (negative times count as 0, times
//   past 2^26 ticks as 2^26); a note shorter than one tick after rounding lasts one tick;
// - notes of one pitch never overlap on the grid: notes starting on the same tick
//   merge (the longest end, the loudest velocity, the first note's source); a note
//   starting while the pitch still sounds ends the sounding one there (retrigger) and
//   lasts until the later of the two ends, so the pitch sounds over the same ticks;
// - at each tick: NOTE_OFFs (ascending pitch), then for each note-on (ascending
//   pitch) VELOCITY when its bin changed, then NOTE_ON; then SHIFTs to the next
//   event's tick. No trailing SHIFT after the last NOTE_OFF.
// - each Step carries beat_tick = tick % ticks_per_beat, bar_beat from the score's
//   time signatures, and the note's source (NOTE_OFF too).
//
// Decoding is total (any token list gives a Score): a NOTE_OFF at the note's own
// start tick gives a one-tick note; a NOTE_ON of a sounding pitch ends it first
// (a repeat on the same tick is ignored); notes still on at the end end at the
// final time, or one tick after their start if that is later. Unknown ids are
// skipped. Before the first VELOCITY, notes have the velocity of the middle bin.
class EventCodec final : public Codec {
 public:
  // Throws std::invalid_argument for settings outside: ticks_per_beat 1..960,
  // velocity_bins 1..127, max_shift_ticks 1..65535.
  explicit EventCodec(const CodecSettings& settings);

  const CodecSettings& settings() const override { return settings_; }
  int input_size() const override { return layout_.vocabulary_size(); }
  EncodedSequence encode(const Score& score) const override;
  Score decode(const EncodedSequence& sequence) const override;
  EncodedSequence transpose(const EncodedSequence& sequence, int semitones) const override;
  std::string describe(const Step& step) const override;

  const EventLayout& layout() const noexcept { return layout_; }

 private:
  CodecSettings settings_;
  EventLayout layout_;
};

}  // namespace nextbeat::engine
