// The performer's MIDI inputs: nextbeat's own virtual input port, plus every
// port of other clients whose name matches midi.inputs, followed as ports
// come and go (hot-plug). Each input is one RtMidi client with its own
// InputHub slot; its callback only timestamps, parses and pushes.
//
// Threads: the constructor, rescan(), the accessors and the destructor run on
// the control thread. The RtMidi callbacks run on JACK's real-time thread
// (JACK API) or on RtMidi's ALSA input thread, one per input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/Config.h"
#include "engine/queues/InputHub.h"

namespace nextbeat::io {

class MidiInputs {
 public:
  // Opens, on the API that midi.api resolves to (see resolve_midi_api; never
  // starts JACK), the virtual input port midi.virtual_input under the client
  // "nextbeat", and follows every matching port that exists now (the lines
  // saying so come out of the first rescan()). `hub` must outlive this object.
  // Throws std::runtime_error when no MIDI API can be opened ("no MIDI API:
  // ..."), when the virtual port cannot be created, or when the hub has no
  // free slot: the daemon can go on with OSC alone.
  MidiInputs(const config::MidiConfig& config, engine::InputHub& hub);
  // Closes every client (which stops its callback) before releasing its slot.
  ~MidiInputs();
  MidiInputs(const MidiInputs&) = delete;
  MidiInputs& operator=(const MidiInputs&) = delete;

  // Follows matching ports that appeared, closes the inputs of ports that
  // vanished, and (JACK) reconnects a port that vanished and came back under
  // the same name since the last call. Returns lines for the caller to log:
  // "MIDI input connected: <port>", "MIDI input lost: <port>", and why a
  // port could not be followed. Call it every ~500 ms: a port that comes back
  // is followed again at the next call. Never throws: ports vanishing
  // mid-call are normal. Takes about a millisecond per port on JACK.
  std::vector<std::string> rescan() noexcept;

  // "jack" or "alsa".
  std::string api_name() const;
  // The virtual input port's full name as other clients see it: on JACK
  // "nextbeat:nextbeat in" ("nextbeat-01:..." when another client already
  // has the name "nextbeat"); on ALSA as RtMidi lists it, "nextbeat:nextbeat
  // in 128:0".
  const std::string& virtual_port() const noexcept;
  // One sentence for the start-up log: where to connect a MIDI source, and
  // which ports are followed.
  std::string where_to_connect() const;
  // The ports of other clients being followed now, as RtMidi names them.
  std::vector<std::string> connected_ports() const;
  // The InputHub slot of the virtual port (InputEvent::port of its events).
  std::size_t virtual_slot() const noexcept;
  // The port behind an InputHub slot: the virtual port, a followed port, or
  // "" for a slot that is not one of ours.
  std::string port_of_slot(std::size_t slot) const;
  // Messages received and not passed on: on an excluded channel
  // (midi.input_channels), or of a kind parse_midi does not take (pitch bend,
  // aftertouch, program change...). Includes inputs since closed. Events the
  // hub dropped because a queue was full are counted by InputHub::dropped().
  std::uint64_t ignored_messages() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nextbeat::io
