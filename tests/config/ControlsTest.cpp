#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "config/ConfigLoader.h"
#include "config/Controls.h"

using namespace nextbeat::config;

namespace {
// A value as TOML writes it: floats keep a '.', so that "10" reads as 10.0.
std::string toml_number(double x, bool integer) {
  char buf[32];
  std::snprintf(buf, sizeof buf, integer ? "%.0f" : "%.10g", x);
  std::string s(buf);
  if (!integer && s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}
}  // namespace

TEST_CASE("every control's range is the config key's range", "[unit][controls]") {
  for (const auto& spec : control_specs()) {
    if (spec.config_key.empty() || spec.type == ControlType::kChoice) continue;
    INFO(spec.name);
    const bool integer = spec.type == ControlType::kInteger;
    const std::string key(spec.config_key);
    const auto set = [&](double x) {
      // pitch_min <= pitch_max is checked across the two keys: open the other one up.
      std::vector<std::string> overrides{key + "=" + toml_number(x, integer)};
      if (spec.id == Control::kPitchMin) overrides.emplace_back("sampling.pitch_max=127");
      if (spec.id == Control::kPitchMax) overrides.emplace_back("sampling.pitch_min=0");
      return overrides;
    };
    CHECK_NOTHROW(default_config(set(spec.min)));
    CHECK_NOTHROW(default_config(set(spec.max)));
    CHECK_THROWS_AS(default_config(set(spec.max + (integer ? 1.0 : 0.001))), ConfigError);
    CHECK_THROWS_AS(default_config(set(spec.min - (integer ? 1.0 : 0.001))), ConfigError);
  }
}

TEST_CASE("controls set and read back their config fields", "[unit][controls]") {
  Config c;
  for (const auto& spec : control_specs()) {
    if (spec.config_key.empty()) continue;
    INFO(spec.name);
    CHECK(apply_control(c, spec.id, spec.max));
    CHECK(control_value(c, spec.id) == Approx(spec.max));
  }
  CHECK(c.engine.mode == Mode::kAccompany);
  CHECK(c.sampling.key == kKeyAuto);  // the key's last choice
  CHECK(c.midi.split_note == 128);
}

TEST_CASE("OSC values are validated with a clear message", "[unit][controls]") {
  const auto& t = *find_control("temperature");
  CHECK(parse_control_number(t, 0.8).value == Approx(0.8));
  CHECK(parse_control_number(t, 12).error == "expected a number in 0.01..10, got 12");
  const auto& mode = *find_control("mode");
  CHECK(parse_control_text(mode, "accompany").value == Approx(2));
  CHECK(parse_control_text(mode, "loud").error ==
        "expected one of continue | call-response | accompany (or its index), got \"loud\"");
  const auto& key = *find_control("key");
  CHECK(parse_control_text(key, "F#").value == Approx(7));
  CHECK(parse_control_text(key, "Gb").value == Approx(7));
  CHECK(parse_control_text(key, "").value == Approx(0));
  CHECK(parse_control_text(key, "auto").value == Approx(kKeyAuto + 1));
  CHECK(format_control_value(key, kKeyAuto + 1) == "auto");
  CHECK(parse_control_number(*find_control("split"), 129).error == "expected an integer in 0..128, got 129");
  CHECK(parse_control_number(*find_control("top_k"), 2.5).error.find("an integer") != std::string::npos);
  CHECK(find_control("nosuch") == nullptr);
}

TEST_CASE("a CC value maps onto the control's range", "[unit][controls]") {
  CHECK(cc_to_value(*find_control("temperature"), 0) == Approx(0.01));
  CHECK(cc_to_value(*find_control("temperature"), 127) == Approx(10));
  CHECK(cc_to_value(*find_control("mode"), 0) == 0);
  CHECK(cc_to_value(*find_control("mode"), 127) == 2);
  CHECK(cc_to_value(*find_control("mute"), 63) == 0);
  CHECK(cc_to_value(*find_control("mute"), 64) == 1);
  CHECK(cc_to_value(*find_control("channel"), 127) == 16);
}
