// libFuzzer target: one UDP datagram through the OSC decoder (io/osc/OscServer.h decode_osc_packet), the code
// that reads what any local process may send to the daemon's OSC port. Built and run by scripts/fuzz.sh.
//
// Contract checked: decode_osc_packet never crashes, never throws and always ends; every input event it makes has
// a MIDI channel 0..15 and the receive time it was given.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "io/osc/OscServer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using nextbeat::io::OscCommand;
  std::vector<OscCommand> out;
  nextbeat::io::decode_osc_packet(std::span<const std::uint8_t>(data, size), 42, out);
  for (const OscCommand& c : out) {
    if (c.kind == OscCommand::Kind::kInput && (c.event.channel > 15 || c.event.time_ns != 42)) __builtin_trap();
  }
  return 0;
}
