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

TEST_CASE("MIDI-learn writes the [cc] table back and keeps the rest of the file", "[unit][config]") {
  const std::string file =
      "# my rig\n[sampling]\ntemperature = 0.9  # warm\n\n[cc]\ntemperature = 21\n# old\n\n[log]\nlevel = \"debug\"\n";
  const std::string out = nextbeat::config::with_cc_bindings(file, {{"density", 30}, {"temperature", 21}});
  CHECK(out ==
        "# my rig\n[sampling]\ntemperature = 0.9  # warm\n\n[cc]\ndensity = 30\ntemperature = 21\n\n[log]\nlevel = "
        "\"debug\"\n");
  CHECK(nextbeat::config::with_cc_bindings("[clock]\ntempo_bpm = 90.0", {{"tempo", 7}}) ==
        "[clock]\ntempo_bpm = 90.0\n\n[cc]\ntempo = 7\n");
  // What it writes loads back.
  CHECK(nextbeat::config::load_config_string(out, "rig.toml").cc.at("density") == 30);
}
