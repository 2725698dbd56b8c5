#include "io/audio/FluidSynthSetup.h"

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <stdexcept>

namespace nextbeat::io::detail {
namespace {

constexpr int kDrumChannel = 9;
constexpr std::string_view kInstallHint = "install fluid-soundfont-gm, or name another .sf2";

thread_local std::string last_fluid_error;

void drop_fluid_message(int /*level*/, const char* /*message*/, void* /*data*/) {}

void keep_fluid_error(int /*level*/, const char* message, void* /*data*/) {
  last_fluid_error = message ? message : "";
  std::fprintf(stderr, "fluidsynth: error: %s\n", last_fluid_error.c_str());
}

// " (audio.soundfont)" or "".
std::string key_note(std::string_view key) {
  return key.empty() ? "" : " (" + std::string(key) + ")";
}

}  // namespace

void set_int_if_present(fluid_settings_t* settings, const char* name, int value) {
  if (fluid_settings_get_type(settings, name) == FLUID_INT_TYPE) fluid_settings_setint(settings, name, value);
}

void set_str_if_present(fluid_settings_t* settings, const char* name, const char* value) {
  if (fluid_settings_get_type(settings, name) == FLUID_STR_TYPE) fluid_settings_setstr(settings, name, value);
}

SettingsPtr make_synth_settings(int sample_rate, double gain, bool dynamic_sample_loading) {
  SettingsPtr settings(new_fluid_settings());
  if (!settings) throw std::runtime_error("FluidSynth: cannot create settings" + fluid_error_suffix());
  fluid_settings_setnum(settings.get(), "synth.sample-rate", sample_rate);
  fluid_settings_setnum(settings.get(), "synth.gain", gain);
  set_int_if_present(settings.get(), "synth.threadsafe-api", 0);
  set_int_if_present(settings.get(), "synth.cpu-cores", 1);
  set_int_if_present(settings.get(), "synth.lock-memory", 0);
  set_int_if_present(settings.get(), "synth.dynamic-sample-loading", dynamic_sample_loading ? 1 : 0);
  set_int_if_present(settings.get(), "synth.verbose", 0);
  set_int_if_present(settings.get(), "midi.autoconnect", 0);
  set_int_if_present(settings.get(), "lash.enable", 0);
  return settings;
}

void quiet_fluid_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    fluid_set_log_function(FLUID_PANIC, keep_fluid_error, nullptr);
    fluid_set_log_function(FLUID_ERR, keep_fluid_error, nullptr);
    fluid_set_log_function(FLUID_WARN, drop_fluid_message, nullptr);
    fluid_set_log_function(FLUID_INFO, drop_fluid_message, nullptr);
    fluid_set_log_function(FLUID_DBG, drop_fluid_message, nullptr);
  });
}

std::string fluid_error_suffix() {
  return last_fluid_error.empty() ? "" : ": " + last_fluid_error;
}

void check_soundfont(const std::string& path, std::string_view key) {
  std::error_code ignored;
  if (!std::filesystem::is_regular_file(path, ignored)) {
    throw std::runtime_error("soundfont not found: '" + path + "' (" + (key.empty() ? "" : std::string(key) + "; ") +
                             std::string(kInstallHint) + ")");
  }
  if (!fluid_is_soundfont(path.c_str())) {
    throw std::runtime_error("cannot load soundfont '" + path + "'" + key_note(key) + ": not a SoundFont 2 file (" +
                             std::string(kInstallHint) + ")");
  }
}

SynthPtr make_synth(fluid_settings_t* settings, const std::string& soundfont, int program, std::string_view key) {
  quiet_fluid_log();
  last_fluid_error.clear();
  check_soundfont(soundfont, key);
  SynthPtr synth(new_fluid_synth(settings));
  if (!synth) throw std::runtime_error("FluidSynth: cannot create a synth" + fluid_error_suffix());
  if (fluid_synth_sfload(synth.get(), soundfont.c_str(), 1) == FLUID_FAILED) {
    throw std::runtime_error("cannot load soundfont '" + soundfont + "'" + key_note(key) + fluid_error_suffix() + " (" +
                             std::string(kInstallHint) + ")");
  }
  for (int channel = 0; channel < 16; ++channel) {
    if (channel != kDrumChannel) fluid_synth_program_change(synth.get(), channel, program);
  }
  return synth;
}

}  // namespace nextbeat::io::detail
