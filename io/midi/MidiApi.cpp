#include "io/midi/MidiApi.h"

#include <jack/jack.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "io/DeviceList.h"

namespace nextbeat::io {
namespace {

const MidiApiPorts* find_api(const std::vector<MidiApiPorts>& apis, std::string_view name) {
  for (const MidiApiPorts& api : apis) {
    if (api.api == name) return &api;
  }
  return nullptr;
}

std::string reason(const MidiApiPorts* api) {
  return api == nullptr ? "not compiled into RtMidi" : api->error;
}

}  // namespace

config::MidiApi resolve_midi_api(config::MidiApi requested) {
  // RtMidi::getApiName spells them as config does: "jack", "alsa".
  const std::vector<MidiApiPorts> apis = list_midi_ports();
  const MidiApiPorts* jack = find_api(apis, "jack");
  const MidiApiPorts* alsa = find_api(apis, "alsa");

  switch (requested) {
    case config::MidiApi::kJack:
      if (jack != nullptr && jack->available) return config::MidiApi::kJack;
      throw std::runtime_error("MIDI API jack (midi.api) cannot be opened: " + reason(jack));
    case config::MidiApi::kAlsa:
      if (alsa != nullptr && alsa->available) return config::MidiApi::kAlsa;
      throw std::runtime_error("MIDI API alsa (midi.api) cannot be opened: " + reason(alsa));
    case config::MidiApi::kAuto:
      break;
  }
  if (jack != nullptr && jack->available) return config::MidiApi::kJack;
  if (alsa != nullptr && alsa->available) return config::MidiApi::kAlsa;

  std::string message = "no MIDI API: no JACK server running and no ALSA sequencer (/dev/snd/seq)";
  // The usual reasons are what the sentence says; anything else is news.
  const std::string jack_reason = reason(jack), alsa_reason = reason(alsa);
  if (jack_reason.find("JACK server not running") == std::string::npos) message += "; JACK: " + jack_reason;
  if (alsa_reason.rfind("no /dev/snd", 0) != 0) message += "; ALSA: " + alsa_reason;
  throw std::runtime_error(message);
}

bool is_own_port(std::string_view port_name) noexcept {
  return port_name.starts_with(kMidiClientPrefix);
}

std::unique_ptr<JackServerWatch> JackServerWatch::open() {
  jack_status_t status{};
  jack_client_t* client = jack_client_open("nextbeat-watch", JackNoStartServer, &status);
  if (client == nullptr) return nullptr;
  std::unique_ptr<JackServerWatch> watch(new JackServerWatch(client));
  jack_on_shutdown(client, &JackServerWatch::on_shutdown, watch.get());
  return watch;
}

JackServerWatch::~JackServerWatch() {
  // On a server that has gone, libjack only frees the client's memory.
  jack_client_close(static_cast<jack_client_t*>(client_));
}

void JackServerWatch::on_shutdown(void* self) noexcept {
  static_cast<JackServerWatch*>(self)->gone_.store(true, std::memory_order_release);
}

}  // namespace nextbeat::io
