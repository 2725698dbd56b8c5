// MIDI bytes <-> the live path's plain events. Pure functions, no state: the
// MIDI input callbacks parse with them (real-time), MIDI output encodes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/queues/LiveEvent.h"

namespace nextbeat::io {

// Every channel accepted (bit c = MIDI channel c, 0-based).
inline constexpr std::uint16_t kAllChannels = 0xFFFF;

// Turns one complete MIDI message into an InputEvent stamped `time_ns`.
// Understood: note on (velocity 0 => kNoteOff), note off, control change,
// timing clock F8, start FA, continue FB, stop FC and song position F2 (a =
// sixteenths, 0..16383). Voice messages on a channel whose bit is clear in
// `channel_mask` are rejected; system messages have no channel and pass.
// Returns false, leaving `out` unspecified, for anything else: sysex,
// aftertouch, pitch bend, program change, active sensing, running status, a
// message of the wrong length or with a data byte >= 0x80.
// real-time safe: no allocation, no locks.
bool parse_midi(std::span<const unsigned char> bytes, std::int64_t time_ns, std::uint16_t channel_mask,
                engine::InputEvent& out) noexcept;

// The bytes of `event` for kNoteOn, kNoteOff (release velocity 64), kClock,
// kStart, kStop and kProgram (program = event.velocity). Returns how many of
// `bytes` it wrote; 0 for the other kinds and for a channel > 15 or a pitch,
// velocity or program > 127 (sending a different note would be worse than
// sending none). real-time safe: no allocation, no locks.
std::size_t encode_midi(const engine::OutputEvent& event, std::array<unsigned char, 3>& bytes) noexcept;

// The mask of config::MidiConfig::input_channels (1..16; empty = all).
// Values outside 1..16 are ignored (the config loader rejects them).
std::uint16_t channel_mask_of(std::span<const int> channels_1_based) noexcept;

}  // namespace nextbeat::io
