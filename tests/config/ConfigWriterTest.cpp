#include <filesystem>

#include <catch2/catch.hpp>

#include "config/ConfigLoader.h"
#include "config/ConfigWriter.h"

namespace fs = std::filesystem;
using nextbeat::config::Config;
using nextbeat::config::load_config_file;
using nextbeat::config::load_config_string;
using nextbeat::config::to_toml;

TEST_CASE("the printed config reads back to an equal config", "[unit][config]") {
  const fs::path good = fs::path(NEXTBEAT_TEST_DATA) / "config" / "good";
  for (const auto& file :
       {good / "non-defaults.toml", good / "minimal.toml", fs::path(NEXTBEAT_DEFAULT_CONFIG_SOURCE)}) {
    SECTION(file.filename().string()) {
      const Config config = load_config_file(file);
      const std::string printed = to_toml(config);
      CHECK(load_config_string(printed, "printed.toml") == config);
      // Printing is stable.
      CHECK(to_toml(load_config_string(printed, "printed.toml")) == printed);
    }
  }
}

TEST_CASE("the printed defaults name every key with what it allows", "[unit][config]") {
  const std::string printed = to_toml(Config{});
  CHECK_THAT(printed, Catch::Contains("[sampling]\ntemperature = 1.0"));
  CHECK_THAT(printed, Catch::Contains("# a number in 0.01..10"));
  CHECK_THAT(printed, Catch::Contains("mode = \"continue\""));
  CHECK_THAT(printed, Catch::Contains("# one of continue | call-response | accompany"));
  CHECK_THAT(printed, Catch::Contains("[cc]"));
  CHECK_THAT(printed, Catch::Contains("temperature = 21"));
}

TEST_CASE("strings with quotes, backslashes and control characters survive printing", "[unit][config]") {
  Config config;
  config.midi.output = "a \"b\" \\ c\td\x01";
  CHECK(load_config_string(to_toml(config), "printed.toml") == config);
}
