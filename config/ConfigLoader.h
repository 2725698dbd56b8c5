// Loading and validating configuration. Boundary code: errors are thrown as
// ConfigError, carrying every issue found with file:line:col, key and what is
// allowed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "config/Config.h"

namespace nextbeat::config {

// Reads a TOML file over the defaults, then applies command-line overrides
// ("sampling.temperature=0.8", checked the same way as the file).
// A config file larger than this is refused unread (the bundled one is ~10 KB
// with its comments); so are FIFOs, devices and directories.
constexpr std::uint64_t kMaxConfigFileBytes = std::uint64_t{1} << 20;

Config load_config_file(const std::filesystem::path& path, std::span<const std::string> overrides = {});

// The same for TOML text already in memory; source_name is used in messages.
Config load_config_string(std::string_view toml_text, std::string_view source_name,
                          std::span<const std::string> overrides = {});

// The built-in defaults with overrides applied (no file).
Config default_config(std::span<const std::string> overrides = {});

// Edit distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace nextbeat::config
