#pragma once

// What MIDI and audio backends this machine offers, for `nextbeat devices` and
// for start-up messages. Only plain data crosses this header: RtMidi and RtAudio
// stay private to nextbeat_io.

#include <string>
#include <vector>

namespace nextbeat::io {

// One entry per MIDI API compiled into RtMidi (the dummy API excluded).
struct MidiApiPorts {
  std::string api;                   // RtMidi::getApiName: "jack", "alsa", ...
  std::string display_name;          // RtMidi::getApiDisplayName: "Jack", "ALSA", ...
  bool available = false;            // the API could be opened (JACK server running, /dev/snd/seq present...)
  std::string error;                 // when !available: why, in plain words ("JACK server not running")
  std::vector<std::string> inputs;   // ports nextbeat can read from, as RtMidi names them
  std::vector<std::string> outputs;  // ports nextbeat can play to, as RtMidi names them
};

struct AudioDevice {
  unsigned id = 0;  // RtAudio device index within its API
  std::string name;
  unsigned output_channels = 0;
  unsigned input_channels = 0;
  std::vector<unsigned> sample_rates;  // Hz; empty when the device could not be probed (busy...)
  unsigned preferred_sample_rate = 0;  // Hz; 0 when unknown
  bool is_default_output = false;
};

// One entry per audio API compiled into RtAudio (the dummy API excluded).
struct AudioApiDevices {
  std::string api;           // RtAudio::getApiName: "jack", "pulse", "alsa", ...
  std::string display_name;  // RtAudio::getApiDisplayName
  bool available = false;    // the API could be reached
  std::string error;         // when !available: why, in plain words
  std::vector<AudioDevice> devices;
};

// Both functions: never throw, print nothing, and never start a JACK server (they
// set JACK_NO_START_SERVER=1 in the environment if it is unset, see DeviceList.cpp).
// Called on: the main/control thread. While they probe (milliseconds), they
// redirect std::cerr and the JACK and ALSA library error handlers to collect what
// those libraries print; a line written to std::cerr by another thread in that
// window is lost. Concurrent calls are serialised.
std::vector<MidiApiPorts> list_midi_ports();
std::vector<AudioApiDevices> list_audio_devices();

}  // namespace nextbeat::io
