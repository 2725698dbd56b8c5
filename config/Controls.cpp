#include "config/Controls.h"

#include "config/NumberText.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace nextbeat::config {
namespace {

template <class E>
constexpr auto names_of() {
  constexpr auto& kNames = EnumNames<E>::kNames;
  std::array<std::string_view, kNames.size()> out{};
  for (std::size_t i = 0; i < kNames.size(); ++i) out[i] = kNames[i].second;
  return out;
}

// Index = pitch class + 1; the last, "auto", is kKeyAuto + 1.
constexpr std::array<std::string_view, 14> kKeys{"",   "C", "C#", "D", "Eb", "E", "F",
                                                 "F#", "G", "Ab", "A", "Bb", "B", "auto"};
static_assert(kKeys.size() == kKeyAuto + 2);
constexpr auto kScales = names_of<Scale>();
constexpr auto kModes = names_of<Mode>();
constexpr auto kFallbacks = names_of<Fallback>();
constexpr auto kQuantizes = names_of<Quantize>();

constexpr double choice_max(std::span<const std::string_view> choices) {
  return double(choices.size()) - 1;
}

using enum Control;
using enum ControlType;
using E = ControlEffect;
using S = LiveSettings;

// Accessors for a LiveSettings field as a double (choices: the index), so
// that one table row says where a control's value lives.
template <class T>
constexpr double as_value(T v) noexcept {
  if constexpr (std::is_enum_v<T>) {
    return static_cast<double>(static_cast<int>(v));  // EnumNames lists every enum in declaration order
  } else {
    return static_cast<double>(v);
  }
}
template <class T>
constexpr void assign_value(T& v, double x) noexcept {
  if constexpr (std::is_floating_point_v<T>) {
    v = x;
  } else {
    v = static_cast<T>(std::llround(x));  // integers, enums, and toggles (x is 0 or 1)
  }
}
template <auto Section, auto Member>
constexpr double get_field(const S& s) noexcept {
  return as_value((s.*Section).*Member);
}
template <auto Section, auto Member>
constexpr void set_field(S& s, double x) noexcept {
  assign_value((s.*Section).*Member, x);
}
template <auto Member>
constexpr double get_top(const S& s) noexcept {
  return as_value(s.*Member);
}
template <auto Member>
constexpr void set_top(S& s, double x) noexcept {
  assign_value(s.*Member, x);
}
// A row's value accessors: a field of a section (NEXTBEAT_FIELD(sampling,
// SamplingConfig::temperature)) or of LiveSettings itself (NEXTBEAT_TOP(channel)).
#define NEXTBEAT_FIELD(SECTION, MEMBER) &get_field<&S::SECTION, &MEMBER>, &set_field<&S::SECTION, &MEMBER>
#define NEXTBEAT_TOP(MEMBER) &get_top<&S::MEMBER>, &set_top<&S::MEMBER>

// The key's choice index is the pitch class + 1 (0 = no constraint).
double get_key(const S& s) noexcept {
  return s.sampling.key + 1;
}
void set_key(S& s, double x) noexcept {
  s.sampling.key = static_cast<int>(std::llround(x)) - 1;
}

// The one table of controls, in Control order (checked below). One row a
// control, kept on one line each (clang-format would break the rows apart).
// clang-format off
constexpr std::array<ControlSpec, kControlCount> kSpecs{{
  // id                  name                  type      min   max                   config key                    choices     effect        where the value lives
  {kTemperature,       "temperature",        kNumber,  0.01, 10.0,                 "sampling.temperature",       {},         E::kSampler,  NEXTBEAT_FIELD(sampling, SamplingConfig::temperature)},
  {kTopK,              "top_k",              kInteger, 0,    1024,                 "sampling.top_k",             {},         E::kSampler,  NEXTBEAT_FIELD(sampling, SamplingConfig::top_k)},
  {kTopP,              "top_p",              kNumber,  0.01, 1.0,                  "sampling.top_p",             {},         E::kSampler,  NEXTBEAT_FIELD(sampling, SamplingConfig::top_p)},
  {kKey,               "key",                kChoice,  0,    choice_max(kKeys),    "sampling.key",               kKeys,      E::kSampler,  &get_key, &set_key},
  {kScale,             "scale",              kChoice,  0,    choice_max(kScales),  "sampling.scale",             kScales,    E::kSampler,  NEXTBEAT_FIELD(sampling, SamplingConfig::scale)},
  {kRepetitionPenalty, "repetition_penalty", kNumber,  1.0,  10.0,                 "sampling.repetition_penalty",{},         E::kSampler,  NEXTBEAT_FIELD(sampling, SamplingConfig::repetition_penalty)},
  {kDensity,           "density",            kNumber,  0.0,  4.0,                  "sampling.density",           {},         E::kSampler,  NEXTBEAT_FIELD(sampling, SamplingConfig::density)},
  {kVelocityScale,     "velocity_scale",     kNumber,  0.0,  4.0,                  "sampling.velocity_scale",    {},         E::kRead,     NEXTBEAT_FIELD(sampling, SamplingConfig::velocity_scale)},
  {kPitchMin,          "pitch_min",          kInteger, 0,    127,                  "sampling.pitch_min",         {},         E::kSampler,  NEXTBEAT_FIELD(sampling, SamplingConfig::pitch_min)},
  {kPitchMax,          "pitch_max",          kInteger, 0,    127,                  "sampling.pitch_max",         {},         E::kSampler,  NEXTBEAT_FIELD(sampling, SamplingConfig::pitch_max)},
  {kSeed,              "seed",               kInteger, 0,    4294967295.0,         "sampling.seed",              {},         E::kSampler,  NEXTBEAT_FIELD(sampling, SamplingConfig::seed)},
  {kChordFollow,       "chord_follow",       kNumber,  0.0,  8.0,                  "sampling.chord_follow",      {},         E::kRead,     NEXTBEAT_FIELD(sampling, SamplingConfig::chord_follow)},
  {kMode,              "mode",               kChoice,  0,    choice_max(kModes),   "engine.mode",                kModes,     E::kMode,     NEXTBEAT_FIELD(engine, EngineConfig::mode)},
  {kLatencyBudgetMs,   "latency_budget_ms",  kNumber,  0.1,  100.0,                "engine.latency_budget_ms",   {},         E::kRead,     NEXTBEAT_FIELD(engine, EngineConfig::latency_budget_ms)},
  {kContextBeats,      "context_beats",      kInteger, 1,    1024,                 "engine.context_beats",       {},         E::kRead,     NEXTBEAT_FIELD(engine, EngineConfig::context_beats)},
  {kGapBeats,          "gap_beats",          kNumber,  0.25, 64.0,                 "engine.gap_beats",           {},         E::kRead,     NEXTBEAT_FIELD(engine, EngineConfig::gap_beats)},
  {kResponseBeats,     "response_beats",     kInteger, 1,    64,                   "engine.response_beats",      {},         E::kRead,     NEXTBEAT_FIELD(engine, EngineConfig::response_beats)},
  {kFallback,          "fallback",           kChoice,  0,    choice_max(kFallbacks), "engine.fallback",          kFallbacks, E::kRead,     NEXTBEAT_FIELD(engine, EngineConfig::fallback)},
  {kMaxNoteBeats,      "max_note_beats",     kNumber,  0.25, 64.0,                 "engine.max_note_beats",      {},         E::kRead,     NEXTBEAT_FIELD(engine, EngineConfig::max_note_beats)},
  {kMaxVoices,         "max_voices",         kInteger, 0,    32,                   "engine.max_voices",          {},         E::kRead,     NEXTBEAT_FIELD(engine, EngineConfig::max_voices)},
  {kQuantize,          "quantize",           kChoice,  0,    choice_max(kQuantizes), "engine.quantize",          kQuantizes, E::kRead,     NEXTBEAT_FIELD(engine, EngineConfig::quantize)},
  {kTempo,             "tempo",              kNumber,  20.0, 400.0,                "clock.tempo_bpm",            {},         E::kTempo,    NEXTBEAT_FIELD(clock, ClockConfig::tempo_bpm)},
  {kChannel,           "channel",            kInteger, 1,    16,                   "midi.channel",               {},         E::kChannel,  NEXTBEAT_TOP(channel)},
  {kProgram,           "program",            kInteger, 0,    127,                  "audio.program",              {},         E::kProgram,  NEXTBEAT_TOP(program)},
  {kSplit,             "split",              kInteger, 0,    128,                  "midi.split_note",            {},         E::kRead,     NEXTBEAT_TOP(split_note)},
  {kMute,              "mute",               kToggle,  0,    1,                    "",                           {},         E::kMute,     NEXTBEAT_TOP(muted)},
  {kTap,               "tap",                kAction,  0,    1,                    "",                           {},         E::kTap},
  {kReset,             "reset",              kAction,  0,    1,                    "",                           {},         E::kReset},
  {kPanic,             "panic",              kAction,  0,    1,                    "",                           {},         E::kPanic},
}};
// clang-format on
#undef NEXTBEAT_FIELD
#undef NEXTBEAT_TOP

constexpr bool in_control_order() {
  for (std::size_t i = 0; i < kSpecs.size(); ++i)
    if (static_cast<std::size_t>(kSpecs[i].id) != i) return false;
  return true;
}
static_assert(in_control_order(), "kSpecs lists the controls in the order of enum Control");

}  // namespace

std::string control_range_text(const ControlSpec& spec) {
  switch (spec.type) {
    case kNumber:
      return "a number in " + number_text(spec.min) + ".." + number_text(spec.max);
    case kInteger:
      return "an integer in " + number_text(spec.min) + ".." + number_text(spec.max);
    case kToggle:
      return "0 or 1";
    case kAction:
      return "no argument or any number";
    case kChoice: {
      std::string out = "one of ";
      for (std::size_t i = 0; i < spec.choices.size(); ++i) {
        if (i > 0) out += " | ";
        out += spec.choices[i].empty() ? "\"\"" : std::string(spec.choices[i]);
      }
      return out + " (or its index)";
    }
  }
  return "?";
}

std::span<const ControlSpec> control_specs() {
  return kSpecs;
}

const ControlSpec& control_spec(Control id) {
  return kSpecs[static_cast<std::size_t>(id)];
}

const ControlSpec* find_control(std::string_view name) {
  for (const auto& spec : kSpecs)
    if (spec.name == name) return &spec;
  return nullptr;
}

ControlValue parse_control_number(const ControlSpec& spec, double number) {
  if (spec.type == kAction) return {1.0, {}};
  const bool integral = spec.type != kNumber;
  if (!std::isfinite(number) || number < spec.min || number > spec.max || (integral && number != std::floor(number)))
    return {std::nullopt, "expected " + control_range_text(spec) + ", got " + number_text(number)};
  return {number, {}};
}

ControlValue parse_control_text(const ControlSpec& spec, std::string_view text) {
  if (spec.type == kChoice) {
    for (std::size_t i = 0; i < spec.choices.size(); ++i)
      if (spec.choices[i] == text) return {static_cast<double>(i), {}};
    if (spec.id == kKey) {
      if (text == "none") return {0.0, {}};
      if (const auto pc = key_pitch_class(text)) return {static_cast<double>(*pc + 1), {}};
    }
  }
  return {std::nullopt, "expected " + control_range_text(spec) + ", got \"" + std::string(text) + "\""};
}

double cc_to_value(const ControlSpec& spec, int cc_value) {
  const double x = std::clamp(cc_value, 0, 127) / 127.0;
  switch (spec.type) {
    case kNumber:
      return spec.min + x * (spec.max - spec.min);
    case kInteger:
      return std::round(spec.min + x * (spec.max - spec.min));
    case kChoice:
      return std::min(spec.max, std::floor(std::clamp(cc_value, 0, 127) * (spec.max + 1) / 128.0));
    case kToggle:
    case kAction:
      return cc_value >= 64 ? 1.0 : 0.0;
  }
  return 0;
}

const ControlSpec* find_control_by_key(std::string_view config_key) {
  for (const auto& spec : kSpecs)
    if (!spec.config_key.empty() && spec.config_key == config_key) return &spec;
  return nullptr;
}

LiveSettings live_settings(const Config& c) {
  LiveSettings s;
  s.sampling = c.sampling;
  s.engine = c.engine;
  s.clock = c.clock;
  s.channel = c.midi.channel;
  s.program = c.audio.program;
  s.split_note = c.midi.split_note;
  s.cc_control.fill(kNoControl);
  for (const auto& [name, cc] : c.cc) {
    const auto* spec = find_control(name);
    if (spec != nullptr && cc >= 0 && cc < 128)
      s.cc_control[static_cast<std::size_t>(cc)] = static_cast<std::uint8_t>(spec->id);
  }
  return s;
}

bool apply_control(LiveSettings& s, Control id, double value) noexcept {
  const ControlSpec& spec = control_spec(id);
  if (spec.set == nullptr) return false;
  spec.set(s, std::clamp(value, spec.min, spec.max));
  return true;
}

double control_value(const LiveSettings& s, Control id) noexcept {
  const ControlSpec& spec = control_spec(id);
  return spec.get != nullptr ? spec.get(s) : 0;
}

bool apply_control(Config& c, Control id, double value) {
  const ControlSpec& spec = control_spec(id);
  if (spec.config_key.empty()) return false;
  LiveSettings s = live_settings(c);
  apply_control(s, id, value);
  // Back into the config's sections: the fields a control can reach.
  c.sampling = s.sampling;
  c.engine = s.engine;
  c.clock = s.clock;
  c.midi.channel = s.channel;
  c.audio.program = s.program;
  c.midi.split_note = s.split_note;
  return true;
}

double control_value(const Config& c, Control id) {
  return control_value(live_settings(c), id);
}

std::string format_control_value(const ControlSpec& spec, double value) {
  if (spec.type == kChoice) {
    const auto i = std::clamp<long>(std::lround(value), 0, static_cast<long>(spec.choices.size()) - 1);
    return std::string(spec.choices[static_cast<std::size_t>(i)]);
  }
  return number_text(value);
}

std::string_view key_name(int pitch_class) {
  return pitch_class >= 0 && pitch_class <= kKeyAuto ? kKeys[static_cast<std::size_t>(pitch_class) + 1] : kKeys[0];
}

std::optional<int> key_pitch_class(std::string_view name) {
  if (name.empty() || name.size() > 2) return std::nullopt;
  static constexpr int kNatural[] = {9, 11, 0, 2, 4, 5, 7};  // A B C D E F G
  if (name[0] < 'A' || name[0] > 'G') return std::nullopt;
  int pc = kNatural[name[0] - 'A'];
  if (name.size() == 2) {
    if (name[1] == '#') {
      pc += 1;
    } else if (name[1] == 'b') {
      pc += 11;
    } else {
      return std::nullopt;
    }
  }
  return pc % 12;
}

}  // namespace nextbeat::config
