#include "config/Controls.h"

#include "config/NumberText.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace nextbeat::config {
namespace {

template <class E>
constexpr auto names_of() {
  constexpr auto& kNames = EnumNames<E>::kNames;
  std::array<std::string_view, kNames.size()> out{};
  for (std::size_t i = 0; i < kNames.size(); ++i) out[i] = kNames[i].second;
  return out;
}

constexpr std::array<std::string_view, 13> kKeys{"", "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"};
constexpr auto kScales = names_of<Scale>();
constexpr auto kModes = names_of<Mode>();
constexpr auto kFallbacks = names_of<Fallback>();

constexpr double choice_max(std::span<const std::string_view> choices) {
  return double(choices.size()) - 1;
}

using enum Control;
using enum ControlType;
// Ranges are those of config/Schema.cpp (ControlsTest checks that they agree).
const std::array<ControlSpec, kControlCount> kSpecs{{
    {kTemperature, "temperature", kNumber, 0.01, 10.0, "sampling.temperature", {}},
    {kTopK, "top_k", kInteger, 0, 1024, "sampling.top_k", {}},
    {kTopP, "top_p", kNumber, 0.01, 1.0, "sampling.top_p", {}},
    {kKey, "key", kChoice, 0, choice_max(kKeys), "sampling.key", kKeys},
    {kScale, "scale", kChoice, 0, choice_max(kScales), "sampling.scale", kScales},
    {kRepetitionPenalty, "repetition_penalty", kNumber, 1.0, 10.0, "sampling.repetition_penalty", {}},
    {kDensity, "density", kNumber, 0.0, 4.0, "sampling.density", {}},
    {kVelocityScale, "velocity_scale", kNumber, 0.0, 4.0, "sampling.velocity_scale", {}},
    {kPitchMin, "pitch_min", kInteger, 0, 127, "sampling.pitch_min", {}},
    {kPitchMax, "pitch_max", kInteger, 0, 127, "sampling.pitch_max", {}},
    {kSeed, "seed", kInteger, 0, 4294967295.0, "sampling.seed", {}},
    {kMode, "mode", kChoice, 0, choice_max(kModes), "engine.mode", kModes},
    {kLatencyBudgetMs, "latency_budget_ms", kNumber, 0.1, 100.0, "engine.latency_budget_ms", {}},
    {kContextBeats, "context_beats", kInteger, 1, 1024, "engine.context_beats", {}},
    {kGapBeats, "gap_beats", kNumber, 0.25, 64.0, "engine.gap_beats", {}},
    {kResponseBeats, "response_beats", kInteger, 1, 64, "engine.response_beats", {}},
    {kFallback, "fallback", kChoice, 0, choice_max(kFallbacks), "engine.fallback", kFallbacks},
    {kMaxNoteBeats, "max_note_beats", kNumber, 0.25, 64.0, "engine.max_note_beats", {}},
    {kTempo, "tempo", kNumber, 20.0, 400.0, "clock.tempo_bpm", {}},
    {kChannel, "channel", kInteger, 1, 16, "midi.channel", {}},
    {kProgram, "program", kInteger, 0, 127, "audio.program", {}},
    {kMute, "mute", kToggle, 0, 1, "", {}},
    {kTap, "tap", kAction, 0, 1, "", {}},
    {kReset, "reset", kAction, 0, 1, "", {}},
    {kPanic, "panic", kAction, 0, 1, "", {}},
}};

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

namespace {

template <class E>
E enum_at(double value) {
  const auto& names = EnumNames<E>::kNames;
  const auto i = std::clamp<long>(std::lround(value), 0, static_cast<long>(names.size()) - 1);
  return names[static_cast<std::size_t>(i)].first;
}

template <class E>
double index_of(E value) {
  const auto& names = EnumNames<E>::kNames;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i].first == value) return static_cast<double>(i);
  return 0;
}

}  // namespace

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

bool apply_control(Config& c, Control id, double value) {
  const ControlSpec& spec = control_spec(id);
  const double v = std::clamp(value, spec.min, spec.max);
  const auto i = [&] { return static_cast<int>(std::lround(v)); };
  switch (id) {
    case kTemperature:
      c.sampling.temperature = v;
      break;
    case kTopK:
      c.sampling.top_k = i();
      break;
    case kTopP:
      c.sampling.top_p = v;
      break;
    case kKey:
      c.sampling.key = std::string(kKeys[static_cast<std::size_t>(i())]);
      break;
    case kScale:
      c.sampling.scale = enum_at<Scale>(v);
      break;
    case kRepetitionPenalty:
      c.sampling.repetition_penalty = v;
      break;
    case kDensity:
      c.sampling.density = v;
      break;
    case kVelocityScale:
      c.sampling.velocity_scale = v;
      break;
    case kPitchMin:
      c.sampling.pitch_min = i();
      break;
    case kPitchMax:
      c.sampling.pitch_max = i();
      break;
    case kSeed:
      c.sampling.seed = std::llround(v);
      break;
    case kMode:
      c.engine.mode = enum_at<Mode>(v);
      break;
    case kLatencyBudgetMs:
      c.engine.latency_budget_ms = v;
      break;
    case kContextBeats:
      c.engine.context_beats = i();
      break;
    case kGapBeats:
      c.engine.gap_beats = v;
      break;
    case kResponseBeats:
      c.engine.response_beats = i();
      break;
    case kFallback:
      c.engine.fallback = enum_at<Fallback>(v);
      break;
    case kMaxNoteBeats:
      c.engine.max_note_beats = v;
      break;
    case kTempo:
      c.clock.tempo_bpm = v;
      break;
    case kChannel:
      c.midi.channel = i();
      break;
    case kProgram:
      c.audio.program = i();
      break;
    case kMute:
    case kTap:
    case kReset:
    case kPanic:
      return false;
  }
  return true;
}

double control_value(const Config& c, Control id) {
  switch (id) {
    case kTemperature:
      return c.sampling.temperature;
    case kTopK:
      return c.sampling.top_k;
    case kTopP:
      return c.sampling.top_p;
    case kKey: {
      const auto pc = key_pitch_class(c.sampling.key);
      return pc ? *pc + 1 : 0;
    }
    case kScale:
      return index_of(c.sampling.scale);
    case kRepetitionPenalty:
      return c.sampling.repetition_penalty;
    case kDensity:
      return c.sampling.density;
    case kVelocityScale:
      return c.sampling.velocity_scale;
    case kPitchMin:
      return c.sampling.pitch_min;
    case kPitchMax:
      return c.sampling.pitch_max;
    case kSeed:
      return static_cast<double>(c.sampling.seed);
    case kMode:
      return index_of(c.engine.mode);
    case kLatencyBudgetMs:
      return c.engine.latency_budget_ms;
    case kContextBeats:
      return c.engine.context_beats;
    case kGapBeats:
      return c.engine.gap_beats;
    case kResponseBeats:
      return c.engine.response_beats;
    case kFallback:
      return index_of(c.engine.fallback);
    case kMaxNoteBeats:
      return c.engine.max_note_beats;
    case kTempo:
      return c.clock.tempo_bpm;
    case kChannel:
      return c.midi.channel;
    case kProgram:
      return c.audio.program;
    case kMute:
    case kTap:
    case kReset:
    case kPanic:
      return 0;
  }
  return 0;
}

std::string format_control_value(const ControlSpec& spec, double value) {
  if (spec.type == kChoice) {
    const auto i = std::clamp<long>(std::lround(value), 0, static_cast<long>(spec.choices.size()) - 1);
    return std::string(spec.choices[static_cast<std::size_t>(i)]);
  }
  return number_text(value);
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
