#include "io/DeviceList.h"

#include <RtAudio.h>
#include <RtMidi.h>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string_view>
#include <utility>

namespace nextbeat::io {
namespace {

// The name our probing clients get; JACK shows it (briefly) in its graph.
constexpr const char* kClientName = "nextbeat-devices";

// libjack reads JACK_NO_START_SERVER on every jack_client_open and then never
// forks a server. RtMidi 5.0 and RtAudio 5.2 already pass JackNoStartServer when
// they probe, but other JACK clients in this process (FluidSynth's JACK driver,
// a future RtAudio) need not; an autostarted jackd uses ~/.jackdrc (usually the
// ALSA backend), which either fails after seconds on a machine without a sound
// card or takes the card away from the performer's PulseAudio/PipeWire. A user
// who exports JACK_NO_START_SERVER (or wants autostart and exports something
// else) is left alone: the variable is only set when unset. setenv is not safe
// against concurrent getenv, so this runs once, before the first probe.
void keep_jack_from_autostarting() {
  static std::once_flag once;
  std::call_once(once, [] { ::setenv("JACK_NO_START_SERVER", "1", /*overwrite=*/0); });
}

// --- Keeping the libraries quiet -----------------------------------------------
//
// RtMidi prints construction-time warnings to std::cerr (no error callback can
// be set before the constructor runs); RtAudio prints its warnings there too;
// libjack and alsa-lib print through their own handlers with fprintf(stderr).
// A listing must print nothing itself, so std::cerr is collected (RtAudio's
// warnings are the only place it says why a backend is unreachable) and the
// libjack/alsa-lib handlers are replaced by ones that drop the text: it only
// repeats, in library terms ("Cannot connect to server socket"), what the
// RtMidi/RtAudio results already say.

using JackMessageHandler = void (*)(const char* message);
using AlsaErrorHandler = void (*)(const char* file, int line, const char* function, int err, const char* fmt, ...);

void drop_jack_message(const char* /*message*/) {}

void drop_alsa_message(const char* /*file*/, int /*line*/, const char* /*function*/, int /*err*/, const char* /*fmt*/,
                       ...) {}

// io does not link libjack or libasound itself (RtMidi and RtAudio do), so their
// handler setters are looked up at run time. A missing symbol (another libjack,
// e.g. PipeWire's) leaves that library's printing as it was.
template <typename T>
T find_symbol(const char* name) {
  return reinterpret_cast<T>(::dlsym(RTLD_DEFAULT, name));
}

// While alive: serialises probes, collects std::cerr, and silences libjack and
// alsa-lib. Restores everything on destruction.
class LibraryOutputCapture {
 public:
  LibraryOutputCapture() : serialise_(probe_mutex()) {
    saved_cerr_ = std::cerr.rdbuf(cerr_text_.rdbuf());

    set_jack_error_ = find_symbol<void (*)(JackMessageHandler)>("jack_set_error_function");
    set_jack_info_ = find_symbol<void (*)(JackMessageHandler)>("jack_set_info_function");
    auto* jack_error_current = find_symbol<JackMessageHandler*>("jack_error_callback");
    auto* jack_info_current = find_symbol<JackMessageHandler*>("jack_info_callback");
    if (set_jack_error_ == nullptr || set_jack_info_ == nullptr || jack_error_current == nullptr ||
        jack_info_current == nullptr) {
      set_jack_error_ = nullptr;  // the old handlers could not be put back: leave them
    } else {
      saved_jack_error_ = *jack_error_current;
      saved_jack_info_ = *jack_info_current;
    }
    install_jack_handler();

    set_alsa_handler_ = find_symbol<int (*)(AlsaErrorHandler)>("snd_lib_error_set_handler");
    auto* alsa_current = find_symbol<AlsaErrorHandler*>("snd_lib_error");
    if (set_alsa_handler_ != nullptr && alsa_current != nullptr) {
      saved_alsa_ = *alsa_current;
      set_alsa_handler_(&drop_alsa_message);
    } else {
      set_alsa_handler_ = nullptr;
    }
  }

  ~LibraryOutputCapture() {
    std::cerr.rdbuf(saved_cerr_);
    if (set_jack_error_ != nullptr) {
      set_jack_error_(saved_jack_error_);
      set_jack_info_(saved_jack_info_);
    }
    if (set_alsa_handler_ != nullptr) set_alsa_handler_(saved_alsa_);
  }

  LibraryOutputCapture(const LibraryOutputCapture&) = delete;
  LibraryOutputCapture& operator=(const LibraryOutputCapture&) = delete;

  // RtAudio's JACK backend installs its own silent JACK error handler in its
  // constructor (not in its debug builds); call this after constructing one so
  // that staying quiet does not depend on that choice.
  void install_jack_handler() {
    if (set_jack_error_ == nullptr) return;
    set_jack_error_(&drop_jack_message);
    set_jack_info_(&drop_jack_message);
  }

  // What RtMidi/RtAudio wrote to std::cerr since the last call.
  std::string take_cerr_text() {
    std::string text = cerr_text_.str();
    cerr_text_.str({});
    return text;
  }

 private:
  static std::mutex& probe_mutex() {
    static std::mutex mutex;
    return mutex;
  }

  std::lock_guard<std::mutex> serialise_;
  std::ostringstream cerr_text_;
  std::streambuf* saved_cerr_ = nullptr;
  void (*set_jack_error_)(JackMessageHandler) = nullptr;
  void (*set_jack_info_)(JackMessageHandler) = nullptr;
  JackMessageHandler saved_jack_error_ = nullptr;
  JackMessageHandler saved_jack_info_ = nullptr;
  int (*set_alsa_handler_)(AlsaErrorHandler) = nullptr;
  AlsaErrorHandler saved_alsa_ = nullptr;
};

// --- Turning library messages into plain words -------------------------------

// The last non-blank line of text, trimmed.
std::string last_line(std::string_view text) {
  constexpr std::string_view kBlank = " \t\r\n";
  const auto end = text.find_last_not_of(kBlank);
  if (end == std::string_view::npos) return {};
  text = text.substr(0, end + 1);
  const auto newline = text.find_last_of('\n');
  if (newline != std::string_view::npos) text.remove_prefix(newline + 1);
  const auto begin = text.find_first_not_of(kBlank);
  return std::string(text.substr(begin == std::string_view::npos ? text.size() : begin));
}

// Drops the "MidiInAlsa::initialize: " / "RtApiPulse::DeviceInfo " prefix that
// RtMidi and RtAudio put before their messages.
std::string without_class_prefix(std::string message) {
  const auto space = message.find(' ');
  const auto scope = message.find("::");
  if (scope != std::string::npos && space != std::string::npos && scope < space) {
    message.erase(0, space + 1);
  }
  return message;
}

std::string jack_server_not_running() {
  std::string text = "JACK server not running";
  const char* name = std::getenv("JACK_DEFAULT_SERVER");
  if (name != nullptr && *name != '\0') {
    text += " (server \"";
    text += name;
    text += "\" from JACK_DEFAULT_SERVER)";
  }
  return text;
}

std::string alsa_sequencer_error(const std::string& detail) {
  std::error_code ignored;
  if (!std::filesystem::exists("/dev/snd", ignored)) return "no /dev/snd (ALSA sequencer unavailable)";
  if (!std::filesystem::exists("/dev/snd/seq", ignored)) {
    return "no /dev/snd/seq (ALSA sequencer unavailable: load the snd-seq kernel module)";
  }
  if (::access("/dev/snd/seq", R_OK | W_OK) != 0) {
    return "/dev/snd/seq: permission denied (add the user to the audio group)";
  }
  return detail.empty() ? "the ALSA sequencer could not be opened" : detail;
}

std::string midi_error_in_words(RtMidi::Api api, const std::string& message) {
  if (api == RtMidi::UNIX_JACK && message.find("JACK server not running") != std::string::npos) {
    return jack_server_not_running();
  }
  std::string detail = without_class_prefix(last_line(message));
  if (api == RtMidi::LINUX_ALSA) return alsa_sequencer_error(detail);
  return detail.empty() ? "could not be opened" : detail;
}

// --- MIDI ---------------------------------------------------------------------

void collect_midi_error(RtMidiError::Type type, const std::string& message, void* sink) {
  if (type == RtMidiError::DEBUG_WARNING) return;
  static_cast<std::vector<std::string>*>(sink)->push_back(message);
}

MidiApiPorts probe_midi_api(RtMidi::Api api) {
  MidiApiPorts result;
  result.api = RtMidi::getApiName(api);
  result.display_name = RtMidi::getApiDisplayName(api);
  std::vector<std::string> errors;  // outlives the RtMidi objects that report into it
  try {
    // ALSA throws DRIVER_ERROR from the constructor when /dev/snd/seq cannot be
    // opened. JACK only warns (to std::cerr) when no server runs and then
    // reports 0 ports, so a warning during getPortCount, not the count, is what
    // says the API is unusable. The input side is asked first and alone:
    // RtMidi 5.0's JACK output leaks a 16 KiB ring buffer on every failed
    // connection attempt, which would trip LeakSanitizer in the tests.
    RtMidiIn input(api, kClientName);
    input.setErrorCallback(&collect_midi_error, &errors);
    const unsigned input_count = input.getPortCount();
    if (input_count == 0 && !errors.empty()) {
      result.error = midi_error_in_words(api, errors.front());
      return result;
    }
    RtMidiOut output(api, kClientName);
    output.setErrorCallback(&collect_midi_error, &errors);
    const unsigned output_count = output.getPortCount();
    for (unsigned port = 0; port < input_count; ++port) {
      if (std::string name = input.getPortName(port); !name.empty()) result.inputs.push_back(name);
    }
    for (unsigned port = 0; port < output_count; ++port) {
      if (std::string name = output.getPortName(port); !name.empty()) result.outputs.push_back(name);
    }
    result.available = true;
  } catch (const RtMidiError& e) {
    result.error = midi_error_in_words(api, e.getMessage());
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  return result;
}

// RtAudio's JACK backend reports 0 devices and says nothing both when no server
// runs and when the server has no audio ports; RtMidi's JACK backend does warn.
// Returns why JACK cannot be reached, or "" when it can (or we cannot tell).
std::string jack_connect_error() {
  std::vector<RtMidi::Api> apis;
  RtMidi::getCompiledApi(apis);
  if (std::find(apis.begin(), apis.end(), RtMidi::UNIX_JACK) == apis.end()) return {};
  std::vector<std::string> errors;
  try {
    RtMidiIn probe(RtMidi::UNIX_JACK, kClientName);  // not RtMidiOut: see probe_midi_api
    probe.setErrorCallback(&collect_midi_error, &errors);
    probe.getPortCount();
  } catch (const std::exception& e) {
    errors.emplace_back(e.what());
  }
  return errors.empty() ? std::string() : midi_error_in_words(RtMidi::UNIX_JACK, errors.front());
}

// --- Audio --------------------------------------------------------------------

// Why an API that reported no devices is unreachable, or "" when it is
// reachable and simply has none.
std::string audio_unavailable_reason(RtAudio::Api api, const std::string& warnings) {
  std::string warning = without_class_prefix(last_line(warnings));
  switch (api) {
    case RtAudio::UNIX_JACK:
      return jack_connect_error();
    case RtAudio::LINUX_ALSA: {
      std::error_code ignored;
      if (!std::filesystem::exists("/dev/snd", ignored)) return "no /dev/snd (no sound card visible)";
      return warning;
    }
    case RtAudio::LINUX_PULSE:
      return warning.empty() ? std::string() : "no PulseAudio server reachable (" + warning + ")";
    default:
      return warning;
  }
}

AudioApiDevices probe_audio_api(RtAudio::Api api, LibraryOutputCapture& capture) {
  AudioApiDevices result;
  result.api = RtAudio::getApiName(api);
  result.display_name = RtAudio::getApiDisplayName(api);
  try {
    RtAudio audio(api);
    capture.install_jack_handler();
    // Warnings stay on: they go to the captured std::cerr, and they are the
    // only place RtAudio says why a backend (Pulse) cannot be reached.
    audio.showWarnings(true);
    capture.take_cerr_text();
    const unsigned count = audio.getDeviceCount();
    const std::string warnings = capture.take_cerr_text();
    if (count == 0) {
      if (std::string why = audio_unavailable_reason(api, warnings); !why.empty()) {
        result.error = std::move(why);
        return result;
      }
    }
    for (unsigned id = 0; id < count; ++id) {
      RtAudio::DeviceInfo info;
      try {
        info = audio.getDeviceInfo(id);
      } catch (const RtAudioError&) {
        continue;  // vanished since getDeviceCount
      }
      AudioDevice device;
      device.id = id;
      device.name = info.name;
      // An unprobed device (busy, or gone) is still listed, with no details:
      // RtAudio leaves the other fields undefined.
      if (info.probed) {
        device.output_channels = info.outputChannels;
        device.input_channels = info.inputChannels;
        device.sample_rates = info.sampleRates;
        device.preferred_sample_rate = info.preferredSampleRate;
        device.is_default_output = info.isDefaultOutput;
      }
      result.devices.push_back(std::move(device));
    }
    result.available = true;
  } catch (const RtAudioError& e) {
    result.error = without_class_prefix(last_line(e.getMessage()));
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  capture.take_cerr_text();
  return result;
}

}  // namespace

std::vector<MidiApiPorts> list_midi_ports() {
  std::vector<MidiApiPorts> apis;
  try {
    keep_jack_from_autostarting();
    LibraryOutputCapture capture;
    std::vector<RtMidi::Api> compiled;
    RtMidi::getCompiledApi(compiled);
    for (const RtMidi::Api api : compiled) {
      if (api == RtMidi::RTMIDI_DUMMY) continue;
      apis.push_back(probe_midi_api(api));
      // RtMidi's construction-time warnings went to std::cerr before an error
      // callback could be set; they repeat what the callback reported.
      capture.take_cerr_text();
    }
  } catch (...) {
    // Only allocation can fail here; a partial list is still a listing.
  }
  return apis;
}

std::vector<AudioApiDevices> list_audio_devices() {
  std::vector<AudioApiDevices> apis;
  try {
    keep_jack_from_autostarting();
    LibraryOutputCapture capture;
    std::vector<RtAudio::Api> compiled;
    RtAudio::getCompiledApi(compiled);
    for (const RtAudio::Api api : compiled) {
      if (api == RtAudio::RTAUDIO_DUMMY) continue;
      apis.push_back(probe_audio_api(api, capture));
    }
  } catch (...) {
    // Only allocation can fail here; a partial list is still a listing.
  }
  return apis;
}

}  // namespace nextbeat::io
