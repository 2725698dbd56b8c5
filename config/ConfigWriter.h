// Printing a configuration as TOML that load_config_string reads back to an
// equal Config (check-config prints this: the effective config).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "config/Config.h"

namespace nextbeat::config {

// Every key, defaults filled in, in DESIGN.md order, each with a comment
// saying what is allowed.
std::string to_toml(const Config& config);

}  // namespace nextbeat::config

namespace nextbeat::config {

// The config file's text with its [cc] table replaced by `bindings` (MIDI-learn
// write-back). The text is parsed as TOML and the lines that define cc (a
// [cc] or ["cc"] table's keys, dotted cc.x keys, an inline cc = {...}) are
// removed; the new bindings go under the [cc] header if there is one, else in
// a new [cc] table at the end. Every other line, comments included, stays as
// it was. The result is loaded before it is returned: ConfigError (naming
// `source`) if the text does not parse, or would not load back to exactly
// these bindings. Pure text in, text out.
std::string with_cc_bindings(std::string_view toml_text, const CcMap& bindings, const std::string& source);

// Writes the bindings into the config file at `path` (atomically; through a
// symlink to the file it names). ConfigError, and the file untouched, when it
// is gone, is not a regular file, would not load, or the disk is full.
void save_cc_bindings(const std::filesystem::path& path, const CcMap& bindings);

}  // namespace nextbeat::config
