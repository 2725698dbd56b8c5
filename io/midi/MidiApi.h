// Which MIDI API nextbeat opens (config midi.api), and how nextbeat's own
// ports are told apart from everyone else's. Shared by MidiInputs and
// MidiOutput; RtMidi stays out of this header.
#pragma once

#include <atomic>
#include <memory>
#include <string_view>

#include "config/Config.h"

namespace nextbeat::io {

// Every MIDI client nextbeat opens has a name starting with this ("nextbeat",
// "nextbeat-in", "nextbeat-out"; JACK appends "-01"... to a name in use).
inline constexpr std::string_view kMidiClientPrefix = "nextbeat";

// midi.api resolved to kJack or kAlsa: auto = JACK when a server runs, else
// ALSA when its sequencer can be opened. Never starts a JACK server (see
// list_midi_ports) and prints nothing. Throws std::runtime_error saying why
// when the requested API cannot be opened: for auto, "no MIDI API: no JACK
// server running and no ALSA sequencer (/dev/snd/seq)" (plus the reason when
// it is another one). Called on: the control thread; takes milliseconds.
config::MidiApi resolve_midi_api(config::MidiApi requested);

// True for a port of one of nextbeat's own clients, as RtMidi names ports
// ("client:port" on JACK, "client:port 129:0" on ALSA): nextbeat never
// follows or plays to itself, so it can never hear its own output.
bool is_own_port(std::string_view port_name) noexcept;

// Whether the JACK server nextbeat plays through is still there. A plain
// client with no ports, never activated (it costs the server nothing per
// period); libjack calls its shutdown callback when the server goes away (a
// killed or stopped jackd). The session watches it to take its JACK devices
// down and to open them again once a server answers (LiveSession.cpp).
class JackServerWatch {
 public:
  // Null when no JACK server answers; never starts one. Takes milliseconds.
  // called on: the control thread.
  static std::unique_ptr<JackServerWatch> open();
  ~JackServerWatch();
  JackServerWatch(const JackServerWatch&) = delete;
  JackServerWatch& operator=(const JackServerWatch&) = delete;

  // True once the server has gone. called on: any thread.
  bool gone() const noexcept { return gone_.load(std::memory_order_acquire); }

 private:
  explicit JackServerWatch(void* client) : client_(client) {}
  static void on_shutdown(void* self) noexcept;  // called on: libjack's notification thread

  void* client_;  // jack_client_t*, kept out of this header
  std::atomic<bool> gone_{false};
};

}  // namespace nextbeat::io
