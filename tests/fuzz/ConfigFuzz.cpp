// libFuzzer target: config TOML text through the loader (config/ConfigLoader.h load_config_string), the code
// that reads nextbeat.toml, `check-config` files and what /nextbeat/save writes. Built and run by scripts/fuzz.sh.
//
// Contract checked: load_config_string returns a Config or throws ConfigError; nothing else escapes, it never
// crashes and always ends.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/ConfigLoader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)nextbeat::config::load_config_string(text, "fuzz.toml");
  } catch (const nextbeat::config::ConfigError&) {
  }
  return 0;
}
