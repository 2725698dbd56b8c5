#include "daemon/Commands.h"

#include <cstddef>
#include <iomanip>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "io/DeviceList.h"

namespace nextbeat::daemon {
namespace {

void print_count(std::ostream& out, std::size_t count, std::string_view one, std::string_view many) {
  out << count << ' ' << (count == 1 ? one : many);
}

void print_midi(std::ostream& out, const std::vector<io::MidiApiPorts>& apis) {
  out << "MIDI (in: ports nextbeat can listen to; out: ports it can play to)\n";
  if (apis.empty()) out << "  none: RtMidi was built without any MIDI API\n";
  for (const io::MidiApiPorts& api : apis) {
    out << "  " << api.display_name << " (" << api.api << "): ";
    if (!api.available) {
      out << "cannot be opened: " << api.error << '\n';
      continue;
    }
    print_count(out, api.inputs.size(), "input", "inputs");
    out << ", ";
    print_count(out, api.outputs.size(), "output", "outputs");
    out << '\n';
    for (std::size_t i = 0; i < api.inputs.size(); ++i) {
      out << "    in  " << std::setw(3) << i << ": " << api.inputs[i] << '\n';
    }
    for (std::size_t i = 0; i < api.outputs.size(); ++i) {
      out << "    out " << std::setw(3) << i << ": " << api.outputs[i] << '\n';
    }
  }
}

void print_sample_rates(std::ostream& out, const io::AudioDevice& device) {
  const unsigned preferred =
      device.preferred_sample_rate != 0 ? device.preferred_sample_rate : device.sample_rates.front();
  out << preferred << " Hz";
  if (device.sample_rates.size() > 1) {
    out << " preferred, supports ";
    for (std::size_t i = 0; i < device.sample_rates.size(); ++i) {
      out << (i == 0 ? "" : "/") << device.sample_rates[i];
    }
  }
}

void print_audio_device(std::ostream& out, const io::AudioDevice& device) {
  out << "    " << device.id << ": " << (device.name.empty() ? "(unnamed)" : device.name) << "  ";
  // DeviceList leaves a device it could not probe (busy, or just unplugged)
  // with no channels and no rates.
  if (device.output_channels == 0 && device.input_channels == 0 && device.sample_rates.empty()) {
    out << "(could not be probed: busy or gone)\n";
    return;
  }
  out << "out " << device.output_channels << " ch, in " << device.input_channels << " ch";
  if (!device.sample_rates.empty() || device.preferred_sample_rate != 0) {
    out << ", ";
    print_sample_rates(out, device);
  }
  if (device.is_default_output) out << " (default output)";
  out << '\n';
}

void print_audio(std::ostream& out, const std::vector<io::AudioApiDevices>& apis) {
  out << "Audio\n";
  if (apis.empty()) out << "  none: RtAudio was built without any audio API\n";
  for (const io::AudioApiDevices& api : apis) {
    out << "  " << api.display_name << " (" << api.api << "): ";
    if (!api.available) {
      out << "cannot be opened: " << api.error << '\n';
      continue;
    }
    print_count(out, api.devices.size(), "device", "devices");
    out << '\n';
    for (const io::AudioDevice& device : api.devices) print_audio_device(out, device);
  }
}

bool any_midi_available(const std::vector<io::MidiApiPorts>& apis) {
  for (const io::MidiApiPorts& api : apis) {
    if (api.available) return true;
  }
  return false;
}

}  // namespace

// Exit code 0 whenever the listing itself worked, also when nothing could be
// opened: "no MIDI here" is an answer, not a failure of this command.
int run_devices(std::ostream& out) {
  const std::vector<io::MidiApiPorts> midi = io::list_midi_ports();
  const std::vector<io::AudioApiDevices> audio = io::list_audio_devices();
  print_midi(out, midi);
  print_audio(out, audio);
  if (!any_midi_available(midi)) {
    out << "\nNo MIDI API can be opened: `nextbeat run` would work over OSC only.\n"
           "To get MIDI ports, start a JACK server (for example `jackd -d dummy &`, or your\n"
           "usual JACK/PipeWire session), or for ALSA connect MIDI hardware or load the\n"
           "snd-seq kernel module (`sudo modprobe snd-seq`) so that /dev/snd/seq exists.\n";
  }
  out.flush();
  return 0;
}

}  // namespace nextbeat::daemon
