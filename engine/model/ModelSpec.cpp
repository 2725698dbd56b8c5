#include "engine/model/ModelSpec.h"

#include <cstdint>

#include "engine/codec/EventCodec.h"
#include "engine/model/ModelFile.h"

namespace nextbeat::engine {

std::string head_name(HeadKind head) {
  switch (head) {
    case HeadKind::kSoftmax:
      return "softmax";
    case HeadKind::kSigmoid:
      return "sigmoid";
    case HeadKind::kNade:
      return "nade";
  }
  return "?";
}

nlohmann::json spec_to_json(const ModelSpec& spec) {
  const auto& c = spec.codec;
  return {{"codec",
           {{"kind", std::string(codec_name(c.kind))},
            {"ticks_per_beat", c.ticks_per_beat},
            {"velocity_bins", c.velocity_bins},
            {"max_shift_ticks", c.max_shift_ticks},
            {"steps_per_beat", c.steps_per_beat},
            {"include_drums", c.include_drums}}},
          {"head", head_name(spec.head)},
          {"input_size", spec.input_size},
          {"embed", spec.embed},
          {"hidden", spec.hidden},
          {"layers", spec.layers},
          {"dropout", spec.dropout},
          {"position_inputs", spec.position_inputs},
          {"roles", spec.roles},
          {"own_time", spec.own_time},
          {"plays_alone", spec.plays_alone}};
}

namespace {

int int_field(const nlohmann::json& obj, const char* key, int lo, int hi, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer() || it->get<std::int64_t>() < lo || it->get<std::int64_t>() > hi)
    throw ModelFileError(where + "." + key + ": expected an integer in " + std::to_string(lo) + ".." +
                         std::to_string(hi));
  return it->get<int>();
}

std::string string_field(const nlohmann::json& obj, const char* key) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

ModelSpec spec_from_json(const nlohmann::json& json, const std::string& source) {
  const std::string where = source + ": spec";
  if (!json.is_object() || !json.contains("codec") || !json["codec"].is_object())
    throw ModelFileError(where + ": expected an object with a codec");
  ModelSpec spec;
  const auto& c = json["codec"];
  const auto kind = string_field(c, "kind");
  if (const auto named = codec_named(kind)) {
    spec.codec.kind = *named;
  } else {
    throw ModelFileError(where + ".codec.kind: expected " + codec_names());
  }
  spec.codec.ticks_per_beat = int_field(c, "ticks_per_beat", 1, 96, where + ".codec");
  spec.codec.velocity_bins = int_field(c, "velocity_bins", 1, 127, where + ".codec");
  spec.codec.max_shift_ticks = int_field(c, "max_shift_ticks", 1, 1024, where + ".codec");
  spec.codec.steps_per_beat = int_field(c, "steps_per_beat", 1, 96, where + ".codec");
  if (!c.contains("include_drums") || !c["include_drums"].is_boolean())
    throw ModelFileError(where + ".codec.include_drums: expected true or false");
  spec.codec.include_drums = c["include_drums"].get<bool>();

  const auto head = string_field(json, "head");
  if (head == "softmax") {
    spec.head = HeadKind::kSoftmax;
  } else if (head == "sigmoid") {
    spec.head = HeadKind::kSigmoid;
  } else if (head == "nade") {
    spec.head = HeadKind::kNade;
  } else {
    throw ModelFileError(where + ".head: expected \"softmax\", \"sigmoid\" or \"nade\"");
  }
  spec.input_size = int_field(json, "input_size", 1, 1 << 16, where);
  spec.embed = int_field(json, "embed", 1, kMaxModelWidth, where);
  spec.hidden = int_field(json, "hidden", 1, kMaxModelWidth, where);
  spec.layers = int_field(json, "layers", 1, kMaxModelLayers, where);
  if (!json.contains("dropout") || !json["dropout"].is_number() || json["dropout"].get<double>() < 0 ||
      json["dropout"].get<double>() >= 1)
    throw ModelFileError(where + ".dropout: expected a number in [0, 1)");
  spec.dropout = json["dropout"].get<double>();
  if (!json.contains("position_inputs") || !json["position_inputs"].is_boolean())
    throw ModelFileError(where + ".position_inputs: expected true or false");
  spec.position_inputs = json["position_inputs"].get<bool>();
  // Files written before roles existed have no field: one part, as they were trained.
  if (json.contains("roles")) {
    if (!json["roles"].is_boolean()) throw ModelFileError(where + ".roles: expected true or false");
    spec.roles = json["roles"].get<bool>();
    if (spec.roles && (!spec.position_inputs || step_form(spec.codec.kind) != StepForm::kToken))
      throw ModelFileError(where + ".roles: roles need the events codec and position_inputs (the source embedding)");
  }
  // Files written before own_time existed have no field: SHIFTs as they were trained.
  if (json.contains("own_time")) {
    if (!json["own_time"].is_boolean()) throw ModelFileError(where + ".own_time: expected true or false");
    spec.own_time = json["own_time"].get<bool>();
    if (spec.own_time && !spec.roles) throw ModelFileError(where + ".own_time: needs roles: true");
  }
  // Files written before plays_alone existed have no field: roles models then only accompanied.
  if (json.contains("plays_alone")) {
    if (!json["plays_alone"].is_boolean()) throw ModelFileError(where + ".plays_alone: expected true or false");
    spec.plays_alone = json["plays_alone"].get<bool>();
    if (spec.plays_alone && !spec.roles) throw ModelFileError(where + ".plays_alone: needs roles: true");
  }

  const int expected_input = step_input_size(spec.codec);
  if (spec.input_size != expected_input)
    throw ModelFileError(where + ".input_size: " + std::to_string(spec.input_size) + " does not match the codec (" +
                         std::to_string(expected_input) + ")");
  if (!head_fits(spec.head, step_form(spec.codec.kind)))
    throw ModelFileError(where + ".head: " + head + " does not fit the " + kind + " codec");
  return spec;
}

bool head_fits(HeadKind head, StepForm form) noexcept {
  return (head == HeadKind::kSoftmax) == (form == StepForm::kToken);
}

std::int64_t minimum_parameter_count(const ModelSpec& spec) noexcept {
  const std::int64_t h = spec.hidden;
  const std::int64_t gates = 4 * h;
  std::int64_t n = gates * (spec.embed + h) + 2 * gates;  // layer 0: W_ih, W_hh, two biases
  n += (spec.layers - 1) * (gates * (2 * h) + 2 * gates);
  n += h * spec.output_size() + spec.output_size();  // the head
  return n;
}

std::uint8_t input_source(const ModelSpec& spec, const Step& step) noexcept {
  if (!spec.own_time) return step.source;
  const EventLayout layout{.velocity_bins = spec.codec.velocity_bins, .max_shift_ticks = spec.codec.max_shift_ticks};
  return layout.is_shift(step.token) ? 0 : step.source;
}

Step warm_up_step(const ModelSpec& spec) noexcept {
  Step step;
  if (step_form(spec.codec.kind) == StepForm::kToken) step.token = 0;
  return step;
}

}  // namespace nextbeat::engine
