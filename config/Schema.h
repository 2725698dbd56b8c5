// The config schema as data: one FieldSpec per key, in the order of
// DESIGN.md. Loading, validation, overrides and printing all walk this one
// table, so a new key is added in exactly one place (Schema.cpp).
// Private to config/: it includes toml++.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/Config.h"

namespace nextbeat::config::detail {

struct FieldSpec {
  std::string_view section;  // "sampling"
  std::string_view key;      // "temperature"
  std::string allowed;       // "a number in 0.01..10", shown in errors and printed configs
  // Sets the field from a TOML value; returns "" or what is wrong.
  std::function<std::string(const toml::node&, Config&)> apply;
  // The field's current value as TOML text.
  std::function<std::string(const Config&)> to_toml;
};

// Every field, section by section in DESIGN.md order. [cc] is not in here:
// its keys are control names (see cc_controls()).
const std::vector<FieldSpec>& schema();

// Section names in order, including "cc".
const std::vector<std::string_view>& section_names();

// Checks that span several keys (pitch_min <= pitch_max, ...). Each returned
// issue names the key it should be reported at, preferring one the user set
// (was_set("sampling.pitch_max")); the caller fills in source and position.
std::vector<ConfigIssue> cross_field_issues(const Config& config, const std::function<bool(std::string_view)>& was_set);

// TOML text for a string: a basic string with escapes.
std::string toml_quote(std::string_view text);

// "a string", "an integer", ... for "got ..." in messages.
std::string describe_node(const toml::node& node);
// The TOML document of `text`, or ConfigError at the syntax error's line and
// column, naming the key on that line (the loader and the [cc] writer).
toml::table parse_document(std::string_view text, const std::string& source);

}  // namespace nextbeat::config::detail
