#include "io/midi/MidiOutput.h"

#include <RtMidi.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <vector>

#include "io/midi/MidiApi.h"
#include "io/midi/MidiMessage.h"
#include "io/midi/RtMidiPorts.h"

namespace nextbeat::io {
namespace {

constexpr const char* kClientName = "nextbeat-out";
constexpr const char* kVirtualPortName = "nextbeat out";
constexpr const char* kListerClientName = "nextbeat-scan";

constexpr int kAllNotesOffController = 123;
constexpr int kAllSoundOffController = 120;

RtMidi::Api to_rtmidi(config::MidiApi api) {
  return api == config::MidiApi::kJack ? RtMidi::UNIX_JACK : RtMidi::LINUX_ALSA;
}

// Send errors (ALSA: the sequencer refused an event) may come on the output
// thread: count only.
void count_error(RtMidiError::Type type, const std::string& /*text*/, void* user) {
  if (type != RtMidiError::DEBUG_WARNING) static_cast<std::atomic<std::uint64_t>*>(user)->fetch_add(1);
}

using detail::keep_error;
using detail::port_names;

std::size_t bit_of(int channel, int pitch) {
  return static_cast<std::size_t>(channel) * 128 + static_cast<std::size_t>(pitch);
}

}  // namespace

MidiOutput::MidiOutput(const config::MidiConfig& config) {
  api_ = resolve_midi_api(config.api);  // throws "no MIDI API: ..."
  const std::string api_name = std::string(config::enum_name(api_));
  std::string lister_error;  // outlives the listing client below
  try {
    // Created only now that resolve_midi_api has seen the API work: RtMidi
    // 5.0's JACK output leaks 16 KiB each time it fails to reach a server.
    out_ = std::make_unique<RtMidiOut>(to_rtmidi(api_), kClientName);
    out_->setErrorCallback(&count_error, &errors_);

    if (config.output.empty()) {
      // Our port's full name is found the way other clients see it: the
      // ports that send, listed before and after it is opened.
      RtMidiIn lister(to_rtmidi(api_), kListerClientName);
      lister.setErrorCallback(&keep_error, &lister_error);
      const std::vector<std::string> before = port_names(lister);
      const std::uint64_t errors_before = errors_.load();
      out_->openVirtualPort(kVirtualPortName);
      if (errors_.load() != errors_before) {
        throw std::runtime_error("cannot create the virtual MIDI output port \"" + std::string(kVirtualPortName) +
                                 "\" on " + api_name);
      }
      for (const std::string& name : port_names(lister)) {
        const bool ours = is_own_port(name) && std::find(before.begin(), before.end(), name) == before.end() &&
                          name.find(std::string(":") + kVirtualPortName) != std::string::npos;
        if (ours) port_name_ = name;
      }
      if (port_name_.empty()) port_name_ = std::string(kClientName) + ":" + kVirtualPortName;
      virtual_ = true;
      return;
    }

    // Ports that receive; our own (such as the virtual input) never count,
    // so nextbeat cannot play into its own ears.
    std::string listing;
    const unsigned count = out_->getPortCount();
    for (unsigned i = 0; i < count; ++i) {
      const std::string name = out_->getPortName(i);
      if (name.empty() || is_own_port(name)) continue;
      if (name.find(config.output) == std::string::npos) {
        listing += (listing.empty() ? "\"" : ", \"") + name + "\"";
        continue;
      }
      out_->openPort(i, kVirtualPortName);
      // RtMidi opens by index: make sure the index still named this port.
      if (!out_->isPortOpen() || out_->getPortName(i) != name) {
        throw std::runtime_error("cannot connect to MIDI port \"" + name +
                                 "\" (midi.output); it may have just vanished");
      }
      port_name_ = name;
      virtual_ = false;
      return;
    }
    throw std::runtime_error("MIDI output \"" + config.output + "\" (midi.output): no " + api_name +
                             " MIDI port's name contains it; " +
                             (listing.empty() ? "there is no port to play to" : "ports: " + listing));
  } catch (const RtMidiError& e) {
    throw std::runtime_error("MIDI output (" + api_name + "): " + e.getMessage());
  }
}

MidiOutput::~MidiOutput() {
  send_sounding_note_offs();
  // out_'s destructor closes the port; RtMidi's JACK backend first waits
  // for what is queued to be sent.
}

void MidiOutput::send(const unsigned char* bytes, std::size_t size) noexcept {
  try {
    out_->sendMessage(bytes, size);
    sent_.fetch_add(1, std::memory_order_relaxed);
  } catch (...) {
    // RtMidi reports send errors through count_error and does not throw
    // once it is set; this only keeps noexcept honest.
    errors_.fetch_add(1, std::memory_order_relaxed);
  }
}

void MidiOutput::send_control_change(int channel, int controller, int value) noexcept {
  const std::array<unsigned char, 3> bytes{static_cast<unsigned char>(0xB0 | channel),
                                           static_cast<unsigned char>(controller), static_cast<unsigned char>(value)};
  send(bytes.data(), bytes.size());
}

void MidiOutput::send_sounding_note_offs() noexcept {
  if (sounding_.none()) return;
  for (int channel = 0; channel < 16; ++channel) {
    for (int pitch = 0; pitch < 128; ++pitch) {
      if (!sounding_.test(bit_of(channel, pitch))) continue;
      engine::OutputEvent off;
      off.kind = engine::OutputKind::kNoteOff;
      off.channel = static_cast<std::uint8_t>(channel);
      off.pitch = static_cast<std::uint8_t>(pitch);
      std::array<unsigned char, 3> bytes{};
      send(bytes.data(), encode_midi(off, bytes));
    }
  }
  sounding_.reset();
}

void MidiOutput::emit(const engine::OutputEvent& event) noexcept {
  if (event.kind == engine::OutputKind::kAllNotesOff) {
    send_sounding_note_offs();
    for (int channel = 0; channel < 16; ++channel) {
      if ((channels_used_ & (1U << channel)) != 0) send_control_change(channel, kAllNotesOffController, 0);
    }
    return;
  }
  std::array<unsigned char, 3> bytes{};
  const std::size_t size = encode_midi(event, bytes);
  if (size == 0) return;  // not MIDI (kBeat), or out of range
  send(bytes.data(), size);
  if (event.kind == engine::OutputKind::kNoteOn && event.velocity > 0) {
    sounding_.set(bit_of(event.channel, event.pitch));
    channels_used_ = static_cast<std::uint16_t>(channels_used_ | (1U << event.channel));
  } else if (event.kind == engine::OutputKind::kNoteOn || event.kind == engine::OutputKind::kNoteOff) {
    sounding_.reset(bit_of(event.channel, event.pitch));
  }
}

void MidiOutput::all_notes_off_everywhere() noexcept {
  send_sounding_note_offs();
  for (int channel = 0; channel < 16; ++channel) {
    send_control_change(channel, kAllNotesOffController, 0);
    send_control_change(channel, kAllSoundOffController, 0);
  }
}

std::string MidiOutput::api_name() const {
  return std::string(config::enum_name(api_));
}

std::string MidiOutput::where_to_connect() const {
  const std::string api = api_ == config::MidiApi::kJack ? "JACK" : "ALSA";
  if (!virtual_) return "MIDI out: playing to \"" + port_name_ + "\" (" + api + ")";
  std::string text = "MIDI out: connect \"" + port_name_ + "\" to a synth (" + api + "; e.g. ";
  if (api_ == config::MidiApi::kJack) return text + "jack_connect '" + port_name_ + "' SYNTH)";
  const auto space = port_name_.rfind(' ');  // RtMidi's ALSA names end in " client:port"
  return text + "aconnect " + (space == std::string::npos ? port_name_ : port_name_.substr(space + 1)) + " SYNTH)";
}

}  // namespace nextbeat::io
