// The one parameter namespace of the live engine (DESIGN.md "Controls"):
// every control that OSC (/nextbeat/<name>), a MIDI CC ([cc]) and the config
// file can set, with its type and range. OSC validation, CC mapping, the
// engine's apply step and the OSC echo all read this table, so a control
// behaves the same whichever way it is moved.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

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
  kMode,
  kLatencyBudgetMs,
  kContextBeats,
  kGapBeats,
  kResponseBeats,
  kFallback,
  kMaxNoteBeats,
  kTempo,
  kChannel,
  kProgram,
  kMute,
  kTap,
  kReset,
  kPanic,
};
constexpr std::size_t kControlCount = static_cast<std::size_t>(Control::kPanic) + 1;

enum class ControlType : std::uint8_t {
  kNumber,   // a real number in [min, max]
  kInteger,  // an integer in [min, max]
  kChoice,   // one of `choices`; the value is the index
  kToggle,   // 0 or 1
  kAction,   // momentary: any value triggers it (a CC triggers when it crosses 64 upwards)
};

struct ControlSpec {
  Control id;
  std::string_view name;  // OSC address /nextbeat/<name>, [cc] key
  ControlType type;
  double min = 0;
  double max = 0;
  std::string_view config_key;  // "sampling.temperature"; "" for runtime-only controls
  std::span<const std::string_view> choices;
};

std::span<const ControlSpec> control_specs();
const ControlSpec& control_spec(Control id);
const ControlSpec* find_control(std::string_view name);

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

// Sets the config field behind a control (clamped to its range). Runtime-only
// controls (mute, tap, reset, panic) leave the config unchanged and return false.
bool apply_control(Config& config, Control id, double value);
// The config field's current value; 0 for runtime-only controls.
double control_value(const Config& config, Control id);
// The value as OSC echoes it and logs print it: "accompany", "0.8", "F#".
std::string format_control_value(const ControlSpec& spec, double value);

// "" -> none, "C".."B" with # or b -> pitch class 0..11.
std::optional<int> key_pitch_class(std::string_view name);

}  // namespace nextbeat::config
