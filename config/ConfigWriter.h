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
