// Building a FluidSynth synth with a soundfont, shared by the live audio
// output and the offline renderer. Private to io/ (it includes fluidsynth.h).
// called on: the thread that builds the synth (never a real-time callback).
#pragma once

#include <fluidsynth.h>

#include <memory>
#include <string>
#include <string_view>

namespace nextbeat::io::detail {

struct SettingsDeleter {
  void operator()(fluid_settings_t* settings) const { delete_fluid_settings(settings); }
};
struct SynthDeleter {
  void operator()(fluid_synth_t* synth) const { delete_fluid_synth(synth); }
};
using SettingsPtr = std::unique_ptr<fluid_settings_t, SettingsDeleter>;
using SynthPtr = std::unique_ptr<fluid_synth_t, SynthDeleter>;

// Settings that differ between FluidSynth versions are set only where they exist.
void set_int_if_present(fluid_settings_t* settings, const char* name, int value);
void set_str_if_present(fluid_settings_t* settings, const char* name, const char* value);

// The settings both uses share: rate, gain, one thread at a time (no API
// lock, no worker threads, no mlock), quiet, no MIDI autoconnect or LASH.
// `dynamic_sample_loading`: load only the samples of the presets used
// (offline) or the whole font (live: a program change must never read from
// disk on the audio thread). Throws std::runtime_error.
SettingsPtr make_synth_settings(int sample_rate, double gain, bool dynamic_sample_loading);

// FluidSynth's warnings and info are dropped and its errors kept (and
// printed), so that an exception can say what went wrong. Process-wide; once.
void quiet_fluid_log();
// ": <FluidSynth's last error on this thread>", or "" (for exception messages).
std::string fluid_error_suffix();

// The soundfont exists and is a SoundFont 2 file (checked first: handing
// libinstpatch anything else makes it print glib criticals). `key` names the
// config key in messages ("audio.soundfont"), or is empty. Throws
// std::runtime_error naming the path and the package to install.
void check_soundfont(const std::string& path, std::string_view key);

// A synth from `settings` with the soundfont loaded and `program` on every
// channel but the drums (9). Throws std::runtime_error as check_soundfont.
SynthPtr make_synth(fluid_settings_t* settings, const std::string& soundfont, int program, std::string_view key);

}  // namespace nextbeat::io::detail
