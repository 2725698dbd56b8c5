#include "engine/music/PianoRollData.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/codec/PianoRollCodec.h"
#include "engine/util/InputFile.h"
#include "engine/util/JsonLimits.h"

namespace nextbeat::engine {
namespace {

using nlohmann::json;

constexpr int kHighestKey = kLowestKey + kKeys - 1;
constexpr int kSilentVoice = -1;  // Jsb16thSeparated.json
constexpr std::size_t kVoices = 4;
// The published sets are 2-3 MB each; a hundred times that is not a piano roll.
constexpr std::uint64_t kMaxPianoRollFileBytes = std::uint64_t{256} << 20;

// What a value is, for "got ..." in messages; short even for huge values.
std::string describe_value(const json& value) {
  switch (value.type()) {
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::string: {
      std::string text = value.dump();
      if (text.size() > 40) text = text.substr(0, 37) + "...\"";
      return "a string " + text;
    }
    default:
      return value.dump();  // numbers, true/false, null
  }
}

// The integer a JSON number stands for, when it is one (integral floats included).
bool integral_value(const json& value, std::int64_t& out) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return false;
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (value.is_number_integer()) {
    out = value.get<std::int64_t>();
    return true;
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 1e15) return false;
    out = static_cast<std::int64_t>(d);
    return true;
  }
  return false;
}

bool contains_separated(const std::string& name) {
  const std::string file = std::filesystem::path(name).filename().string();
  std::string lower(file.size(), '\0');
  std::transform(file.begin(), file.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find("separated") != std::string::npos;
}

// SATB by content: all steps [S, A, T, B] and at least one silent voice.
bool looks_separated(const json& root) {
  bool any_silent = false;
  for (const auto& [split, sequences] : root.items()) {
    if (!sequences.is_array()) return false;
    for (const auto& sequence : sequences) {
      if (!sequence.is_array()) return false;
      for (const auto& step : sequence) {
        if (!step.is_array() || step.size() != kVoices) return false;
        for (const auto& pitch : step) {
          std::int64_t value = 0;
          if (integral_value(pitch, value) && value == kSilentVoice) any_silent = true;
        }
      }
    }
  }
  return any_silent;
}

class Parser {
 public:
  Parser(const std::string& name, int steps_per_beat) : name_(name), steps_per_beat_(steps_per_beat) {}

  PianoRollSplits parse(std::string_view text) {
    if (const auto at = json_too_deep_at(text))
      throw PianoRollDataError(name_ + ": byte " + std::to_string(*at) + ": JSON nested deeper than " +
                               std::to_string(kMaxJsonDepth) + " levels (a piano roll is 4 deep)");
    json root;
    try {
      root = json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {
      // nlohmann's text starts with "[json.exception.parse_error.101] "; the rest says where.
      std::string what = e.what();
      if (const auto bracket = what.find("] "); what.starts_with("[json.exception") && bracket != std::string::npos)
        what = what.substr(bracket + 2);
      throw PianoRollDataError(name_ + ": invalid JSON: " + what);
    }
    if (!root.is_object()) fail("", "expected an object {\"<split>\": [sequences]}, got " + describe_value(root));
    separated_ = contains_separated(name_) || looks_separated(root);

    PianoRollSplits splits;
    for (const auto& [split, sequences] : root.items()) {
      const std::string split_path = split;
      if (!sequences.is_array()) fail(split_path, "expected an array of sequences, got " + describe_value(sequences));
      auto& out = splits[split];
      out.reserve(sequences.size());
      for (std::size_t i = 0; i < sequences.size(); ++i) {
        out.push_back(parse_sequence(sequences[i], split_path + "[" + std::to_string(i) + "]"));
      }
    }
    return splits;
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw PianoRollDataError(name_ + ": " + (path.empty() ? std::string() : path + ": ") + what);
  }

  EncodedSequence parse_sequence(const json& sequence, const std::string& path) const {
    if (!sequence.is_array()) fail(path, "expected a sequence (an array of steps), got " + describe_value(sequence));
    EncodedSequence out;
    out.source = name_ + ": " + path;
    out.steps.resize(sequence.size());
    for (std::size_t t = 0; t < sequence.size(); ++t) {
      const json& step = sequence[t];
      if (!step.is_array()) {
        fail(path + "[" + std::to_string(t) + "]",
             "expected a step (an array of MIDI pitches), got " + describe_value(step));
      }
      if (separated_ && step.size() != kVoices) {
        fail(path + "[" + std::to_string(t) + "]",
             "expected 4 voices [S, A, T, B], got " + std::to_string(step.size()) + " entries");
      }
      Frame& frame = out.steps[t].frame;
      for (std::size_t k = 0; k < step.size(); ++k) {
        std::int64_t pitch = 0;
        const bool integral = integral_value(step[k], pitch);
        if (integral && separated_ && pitch == kSilentVoice) continue;
        if (!integral || pitch < kLowestKey || pitch > kHighestKey) {
          fail(path + "[" + std::to_string(t) + "][" + std::to_string(k) + "]",
               std::string("expected a MIDI pitch 21..108") + (separated_ ? " or -1" : "") + ", got " +
                   describe_value(step[k]));
        }
        frame.set(static_cast<std::size_t>(pitch - kLowestKey));
      }
    }
    set_frame_positions(out, steps_per_beat_);
    return out;
  }

  const std::string& name_;
  int steps_per_beat_;
  bool separated_ = false;
};

}  // namespace

PianoRollSplits parse_pianoroll_json(std::string_view text, const std::string& name, int steps_per_beat) {
  return Parser(name, steps_per_beat).parse(text);
}

PianoRollSplits load_pianoroll_json(const std::filesystem::path& path, int steps_per_beat) {
  const std::string name = path.string();
  std::string text;
  try {
    text = read_input_text(path, kMaxPianoRollFileBytes, "a piano-roll file");
  } catch (const InputFileError& e) {
    throw PianoRollDataError(e.what());
  }
  return parse_pianoroll_json(text, name, steps_per_beat);
}

}  // namespace nextbeat::engine
