// The one parameter namespace of the live engine (DESIGN.md "Controls"):
// every control that OSC (/nextbeat/<name>), a MIDI CC ([cc]) and the config
// file can set. One table row per control (Controls.cpp) holds its name,
// config key, type, range, choices, where its value lives and how a change
// takes effect; OSC validation, CC mapping, the config schema's range, the
// engine's apply step and the OSC echo all read that row.
//
// Adding a control: a Control value below, one row in kSpecs (Controls.cpp),
// and, if it is a config key, `.control(...)` in Schema.cpp. Only a control
// whose effect is new (a new ControlEffect) needs code in LiveEngine.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "config/Config.h"

namespace nextbeat::config {

enum class Control : std::uint8_t {
  kTemperature,
  kTopK,
  kTopP,
  kKey,
  kScale,
  kRepetitionPenalty,
  kDensity,
  kVelocityScale,
  kPitchMin,
  kPitchMax,
  kSeed,
  kChordFollow,
  kMode,
  kLatencyBudgetMs,
  kContextBeats,
  kGapBeats,
  kResponseBeats,
  kFallback,
  kMaxNoteBeats,
  kMaxVoices,
  kQuantize,
  kTempo,
  kChannel,
  kProgram,
  kSplit,
  kMute,
  kTap,
  kReset,
  kPanic,
};
constexpr std::size_t kControlCount = static_cast<std::size_t>(Control::kPanic) + 1;
constexpr std::uint8_t kNoControl = 0xFF;  // a CC bound to nothing

enum class ControlType : std::uint8_t {
  kNumber,   // a real number in [min, max]
  kInteger,  // an integer in [min, max]
  kChoice,   // one of `choices`; the value is the index
  kToggle,   // 0 or 1
  kAction,   // momentary: any value triggers it (a CC triggers when it crosses 64 upwards)
};

// How a change takes effect on the engine thread (LiveEngine::set_control
// switches on this, never on the control itself).
enum class ControlEffect : std::uint8_t {
  kRead,     // read where it is used: the next beat, the next note
  kSampler,  // the sampler's controls are adjusted (the seed restarts its generator)
  kMode,     // the own part ends; the new mode plays from the next beat
  kTempo,    // the internal clock's tempo
  kChannel,  // own notes end on the old channel first
  kProgram,  // a program change is sent on the output channel
  kMute,     // toggle: the own part ends and stays silent
  kTap,      // action: tap tempo
  kReset,    // action: the context and the model state start afresh
  kPanic,    // action: all notes off on every output
};

// The part of the config that the live engine reads, as plain values: built
// on the control thread, handed to the engine thread by pointer, and changed
// there by controls. Trivially copyable: copying it never allocates.
struct LiveSettings {
  SamplingConfig sampling;
  EngineConfig engine;
  ClockConfig clock;
  int channel = 1;     // midi.channel
  int program = 0;     // audio.program
  int split_note = 0;  // midi.split_note (0 = off)
  // MIDI CC number -> Control (kNoControl: unbound); one control per CC, one CC per control.
  std::array<std::uint8_t, 128> cc_control{};
  bool muted = false;  // runtime only
};
static_assert(std::is_trivially_copyable_v<LiveSettings>);

// Builds the engine's settings from a config (control thread: allocates nothing
// the engine keeps, but reads the config's strings and map).
LiveSettings live_settings(const Config& config);

struct ControlSpec {
  Control id;
  std::string_view name;  // OSC address /nextbeat/<name>, [cc] key
  ControlType type;
  double min = 0;
  double max = 0;
  std::string_view config_key;  // "sampling.temperature"; "" for runtime-only controls
  std::span<const std::string_view> choices;
  ControlEffect effect = ControlEffect::kRead;
  // Where the value lives in LiveSettings, as a double (choices: the index).
  double (*get)(const LiveSettings&) noexcept = nullptr;
  void (*set)(LiveSettings&, double) noexcept = nullptr;  // clamped to [min, max] by apply_control
};

std::span<const ControlSpec> control_specs();
const ControlSpec& control_spec(Control id);
const ControlSpec* find_control(std::string_view name);
// The control whose config key is "section.key", if any (the schema takes its range from here).
const ControlSpec* find_control_by_key(std::string_view config_key);

// OSC values: a number (int or float) for numeric controls and toggles, a
// number or a choice name for choices. Returns the value, or why not ("expected
// a number in 0.01..10, got 12").
struct ControlValue {
  std::optional<double> value;
  std::string error;
};
// What a control accepts, as messages say it: "a number in 0.01..10",
// "one of continue | call-response | accompany (or its index)".
std::string control_range_text(const ControlSpec& spec);
ControlValue parse_control_number(const ControlSpec& spec, double number);
ControlValue parse_control_text(const ControlSpec& spec, std::string_view text);

// A MIDI CC value 0..127 mapped onto the control's range (linear; choices by
// equal slices; toggles and actions at 64).
double cc_to_value(const ControlSpec& spec, int cc_value);

// Sets the value behind a control, clamped to its range. Actions store
// nothing and return false. real-time safe: no allocation, no locks.
bool apply_control(LiveSettings& settings, Control id, double value) noexcept;
double control_value(const LiveSettings& settings, Control id) noexcept;
// The same on a whole config (control thread: the mirror kept for /nextbeat/save and status).
bool apply_control(Config& config, Control id, double value);
double control_value(const Config& config, Control id);
// The value as OSC echoes it and logs print it: "accompany", "0.8", "F#".
std::string format_control_value(const ControlSpec& spec, double value);

// "" -> none, "C".."B" with # or b -> pitch class 0..11 ("auto" is not a
// pitch class: the key control's choice, SamplingConfig::kKeyAuto).
std::optional<int> key_pitch_class(std::string_view name);
// Pitch class -> the key's name as configs and OSC spell it ("" for -1,
// "auto" for kKeyAuto).
std::string_view key_name(int pitch_class);

}  // namespace nextbeat::config
