// The byte-level pieces of a Standard MIDI File that every writer needs
// (MidiFile.cpp's serialize_midi, TakeRecorder.cpp's take): big-endian
// integers and variable-length quantities.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace nextbeat::engine::smf {

// The largest variable-length quantity SMF allows (4 bytes).
inline constexpr std::uint32_t kMaxVlq = 0x0FFFFFFF;

inline void put_u16(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

inline void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// Values past kMaxVlq are written as kMaxVlq: a file never holds a 5-byte quantity.
inline void put_vlq(std::vector<std::uint8_t>& out, std::uint32_t v) {
  v = std::min(v, kMaxVlq);
  std::array<std::uint8_t, 4> buf{};
  int n = 0;
  do {
    buf[static_cast<std::size_t>(n++)] = static_cast<std::uint8_t>(v & 0x7F);
    v >>= 7;
  } while (v != 0 && n < 4);
  while (n-- > 0) out.push_back(static_cast<std::uint8_t>(buf[static_cast<std::size_t>(n)] | (n > 0 ? 0x80 : 0)));
}

}  // namespace nextbeat::engine::smf
