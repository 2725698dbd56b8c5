// Printing a configuration as TOML that load_config_string reads back to an
// equal Config (check-config prints this: the effective config).
#pragma once

#include <string>

#include "config/Config.h"

namespace nextbeat::config {

// Every key, defaults filled in, in DESIGN.md order, each with a comment
// saying what is allowed.
std::string to_toml(const Config& config);

}  // namespace nextbeat::config

namespace nextbeat::config {

// The config file's text with its [cc] table replaced by `bindings` (MIDI-learn
// write-back): every other line, comments included, stays as it was; a file
// without [cc] gets one at the end. Pure text in, text out.
std::string with_cc_bindings(std::string_view toml_text, const CcMap& bindings);

}  // namespace nextbeat::config
