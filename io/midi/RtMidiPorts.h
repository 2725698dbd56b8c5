// Port listing helpers shared by MidiInputs and MidiOutput. Private to io/
// (it includes RtMidi.h); called on: the control thread.
#pragma once

#include <string>
#include <vector>

#include <RtMidi.h>

namespace nextbeat::io::detail {

// An RtMidi error callback for listing clients: keeps the last error's text
// in the std::string behind `user` instead of printing it (a port vanishing
// while the client lists is normal).
inline void keep_error(RtMidiError::Type type, const std::string& text, void* user) {
  if (type != RtMidiError::DEBUG_WARNING) *static_cast<std::string*>(user) = text;
}

// The ports `midi` could open: ports that send for an RtMidiIn, ports that
// receive for an RtMidiOut. A port that vanishes between count and name
// comes back as "" from RtMidi and is skipped.
inline std::vector<std::string> port_names(RtMidi& midi) {
  std::vector<std::string> names;
  const unsigned count = midi.getPortCount();
  for (unsigned i = 0; i < count; ++i) {
    if (std::string name = midi.getPortName(i); !name.empty()) names.push_back(std::move(name));
  }
  return names;
}

}  // namespace nextbeat::io::detail
