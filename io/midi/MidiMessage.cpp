#include "io/midi/MidiMessage.h"

namespace nextbeat::io {
namespace {

constexpr bool is_data(unsigned char byte) noexcept {
  return byte < 0x80;
}

}  // namespace

bool parse_midi(std::span<const unsigned char> bytes, std::int64_t time_ns, std::uint16_t channel_mask,
                engine::InputEvent& out) noexcept {
  if (bytes.empty()) return false;
  out = engine::InputEvent{};
  out.time_ns = time_ns;
  const unsigned char status = bytes[0];

  if (status >= 0x80 && status < 0xF0) {
    const auto channel = static_cast<std::uint8_t>(status & 0x0F);
    if ((channel_mask & (1U << channel)) == 0) return false;
    const unsigned type = status & 0xF0U;
    if (type != 0x80 && type != 0x90 && type != 0xB0) return false;
    if (bytes.size() != 3 || !is_data(bytes[1]) || !is_data(bytes[2])) return false;
    out.channel = channel;
    out.a = bytes[1];
    if (type == 0xB0) {
      out.kind = engine::InputKind::kControlChange;
      out.b = bytes[2];
    } else if (type == 0x90 && bytes[2] != 0) {
      out.kind = engine::InputKind::kNoteOn;
      out.b = bytes[2];
    } else {
      // Note off, or note on with velocity 0 (running-status keyboards send
      // that for every release). The release velocity is not kept.
      out.kind = engine::InputKind::kNoteOff;
    }
    return true;
  }

  switch (status) {
    case 0xF8:
      out.kind = engine::InputKind::kClock;
      return bytes.size() == 1;
    case 0xFA:
      out.kind = engine::InputKind::kStart;
      return bytes.size() == 1;
    case 0xFB:
      out.kind = engine::InputKind::kContinue;
      return bytes.size() == 1;
    case 0xFC:
      out.kind = engine::InputKind::kStop;
      return bytes.size() == 1;
    case 0xF2:
      if (bytes.size() != 3 || !is_data(bytes[1]) || !is_data(bytes[2])) return false;
      out.kind = engine::InputKind::kSongPosition;
      out.a = static_cast<std::int16_t>(bytes[1] | (bytes[2] << 7));  // LSB first, 14 bits
      return true;
    default:
      return false;
  }
}

std::size_t encode_midi(const engine::OutputEvent& event, std::array<unsigned char, 3>& bytes) noexcept {
  const bool voice = event.kind == engine::OutputKind::kNoteOn || event.kind == engine::OutputKind::kNoteOff ||
                     event.kind == engine::OutputKind::kProgram;
  if (voice && (event.channel > 15 || event.velocity > 127)) return 0;
  const auto channel = static_cast<unsigned char>(event.channel);
  switch (event.kind) {
    case engine::OutputKind::kNoteOn:
      if (event.pitch > 127) return 0;
      bytes = {static_cast<unsigned char>(0x90 | channel), event.pitch, event.velocity};
      return 3;
    case engine::OutputKind::kNoteOff:
      if (event.pitch > 127) return 0;
      // 64: what keyboards without release velocity send (MIDI 1.0 spec).
      bytes = {static_cast<unsigned char>(0x80 | channel), event.pitch, 64};
      return 3;
    case engine::OutputKind::kProgram:
      bytes = {static_cast<unsigned char>(0xC0 | channel), event.velocity, 0};
      return 2;
    case engine::OutputKind::kClock:
      bytes = {0xF8, 0, 0};
      return 1;
    case engine::OutputKind::kStart:
      bytes = {0xFA, 0, 0};
      return 1;
    case engine::OutputKind::kStop:
      bytes = {0xFC, 0, 0};
      return 1;
    default:
      return 0;
  }
}

std::uint16_t channel_mask_of(std::span<const int> channels_1_based) noexcept {
  if (channels_1_based.empty()) return kAllChannels;
  std::uint16_t mask = 0;
  for (const int channel : channels_1_based) {
    if (channel >= 1 && channel <= 16) mask = static_cast<std::uint16_t>(mask | (1U << (channel - 1)));
  }
  return mask;
}

}  // namespace nextbeat::io
