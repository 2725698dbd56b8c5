#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <catch2/catch.hpp>

#include "config/ConfigLoader.h"

namespace fs = std::filesystem;
using nextbeat::config::Config;
using nextbeat::config::ConfigError;
using nextbeat::config::ConfigIssue;
using nextbeat::config::load_config_file;
using nextbeat::config::load_config_string;

namespace {

const fs::path kData = NEXTBEAT_TEST_DATA;

std::vector<ConfigIssue> issues_of(const auto& load) {
  try {
    load();
  } catch (const ConfigError& e) {
    return e.issues();
  }
  FAIL("expected a ConfigError");
  return {};
}

struct Expectation {
  int line = 0;
  int column = 0;
  std::string key;  // "" for syntax errors
  std::string message_part;
};

// First line of each bad file: "# expect: LINE:COL KEY MESSAGE-PART" (KEY "-" = none, which the test refuses).
Expectation read_expectation(const fs::path& file) {
  std::ifstream in(file);
  std::string first;
  std::getline(in, first);
  static const std::regex kExpect(R"(# expect: (\d+):(\d+) (\S+) ?(.*))");
  std::smatch m;
  REQUIRE(std::regex_match(first, m, kExpect));
  return {std::stoi(m[1]), std::stoi(m[2]), m[3] == "-" ? "" : std::string(m[3]), m[4]};
}

}  // namespace

TEST_CASE("every malformed config is rejected with its line, column, key and what is allowed", "[unit][config]") {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kData / "config" / "bad")) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() == 36);  // every file of tests/data/config/bad: a new one raises this count

  for (const auto& file : files) {
    SECTION(file.filename().string()) {
      const auto expected = read_expectation(file);
      REQUIRE(!expected.key.empty());  // a syntax error names the key of its line too
      const auto issues = issues_of([&] { load_config_file(file); });
      REQUIRE(issues.size() == 1);
      const auto& issue = issues.front();
      INFO(issue.to_string());
      CHECK(issue.source == file.string());
      CHECK(issue.line == expected.line);
      CHECK(issue.column == expected.column);
      CHECK(issue.key == expected.key);
      CHECK_THAT(issue.message, Catch::Contains(expected.message_part));
      // The printed form is what a person reads: file:line:col: key: message.
      CHECK_THAT(issue.to_string(), Catch::StartsWith(file.string() + ":" + std::to_string(expected.line) + ":" +
                                                      std::to_string(expected.column) + ": "));
    }
  }
}

TEST_CASE("all the issues in a file are reported, not only the first", "[unit][config]") {
  const auto issues = issues_of(
      [] { load_config_string("[sampling]\ntemperature = -1\ntop_k = \"many\"\n[midi]\nchanel = 2\n", "three.toml"); });
  REQUIRE(issues.size() == 3);
  CHECK(issues[0].key == "sampling.temperature");
  CHECK(issues[0].line == 2);
  CHECK(issues[1].key == "sampling.top_k");
  CHECK(issues[1].line == 3);
  CHECK(issues[2].key == "midi.chanel");
  CHECK_THAT(issues[2].message, Catch::Contains("did you mean 'channel'?"));
}

TEST_CASE("an unknown key with no near match lists the keys allowed", "[unit][config]") {
  const auto issues = issues_of([] { load_config_string("[clock]\nbananas = 1\n", "x.toml"); });
  REQUIRE(issues.size() == 1);
  CHECK_THAT(
      issues[0].message,
      Catch::Contains("(keys: source, tempo_bpm, beats_per_bar, send_midi_clock, link_start_stop, link_latency_ms)"));
}

TEST_CASE("clock.source link and its keys are read, with their errors", "[unit][config]") {
  const Config c = load_config_string("[clock]\nsource = \"link\"\nlink_start_stop = true\n", "x.toml");
  CHECK(c.clock.source == nextbeat::config::ClockSource::kLink);
  CHECK(c.clock.link_start_stop);
  CHECK(c.clock.link_latency_ms == 0.0);  // off by default
  CHECK(Config{}.clock.source == nextbeat::config::ClockSource::kInternal);
  auto issues = issues_of([] { load_config_string("[clock]\nsource = \"ableton\"\n", "x.toml"); });
  REQUIRE(issues.size() == 1);
  CHECK_THAT(issues[0].message, Catch::Contains("one of internal | midi | link"));
  issues = issues_of([] { load_config_string("[clock]\nlink_latency_ms = -3\n", "x.toml"); });
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].key == "clock.link_latency_ms");
  CHECK_THAT(issues[0].message, Catch::Contains("a number in 0..1000"));
  issues = issues_of([] { load_config_string("[clock]\nlink_start_stop = \"yes\"\n", "x.toml"); });
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].key == "clock.link_start_stop");
}

TEST_CASE("a missing or unreadable file names the path and the reason", "[unit][config]") {
  auto issues = issues_of([] { load_config_file("/nonexistent/nextbeat.toml"); });
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].source == "/nonexistent/nextbeat.toml");
  CHECK_THAT(issues[0].message, Catch::Contains("No such file or directory"));

  issues = issues_of([] { load_config_file(kData); });
  CHECK_THAT(issues.at(0).message, Catch::Contains("directory"));
}

TEST_CASE("the bundled config file holds exactly the built-in defaults", "[unit][config]") {
  CHECK(load_config_file(NEXTBEAT_DEFAULT_CONFIG_SOURCE) == Config{});
}

TEST_CASE("a file only names what it changes", "[unit][config]") {
  const Config config = load_config_file(kData / "config" / "good" / "minimal.toml");
  Config expected;
  REQUIRE(expected.sampling.temperature != 2.0);  // the file's value is not the default
  expected.sampling.temperature = 2.0;
  CHECK(config == expected);
  CHECK(config != Config{});
  CHECK(load_config_string("", "empty.toml") == Config{});
}

TEST_CASE("every key of the non-defaults file is read", "[unit][config]") {
  const Config c = load_config_file(kData / "config" / "good" / "non-defaults.toml");
  using namespace nextbeat::config;
  CHECK(c.model.path == R"(/var/lib/nextbeat/models/my "tuned" model.nbm)");
  CHECK(c.model.device == Device::kCpu);
  CHECK(c.midi.input_channels == std::vector<int>{1, 10, 16});
  CHECK(c.osc.allow.size() == 3);
  CHECK(c.audio.api == AudioApi::kPulse);
  CHECK(c.clock.tempo_bpm == 96.5);
  CHECK(c.clock.link_start_stop);
  CHECK(c.clock.link_latency_ms == 12.5);
  CHECK(c.engine.mode == Mode::kCallResponse);
  CHECK(c.engine.quantize == Quantize::kBeat);
  CHECK(c.engine.max_voices == 6);
  CHECK(c.session.record);
  CHECK(c.session.record_dir == "/var/lib/nextbeat/takes");
  CHECK(c.sampling.key == 6);  // F#
  CHECK(c.sampling.seed == 4294967295LL);
  CHECK(c.sampling.chord_follow == 1.5);
  CHECK(c.midi.split_note == 60);
  CHECK(c.log.level == LogLevel::kDebug);
  // -1 unbinds a default; a user binding takes a default's number over.
  CHECK(c.cc == CcMap{{"top_p", 21}, {"density", 22}, {"mode", 64}});
  // No field was left at its default: compare section by section.
  const Config d;
  CHECK(c.model != d.model);
  CHECK(c.midi != d.midi);
  CHECK(c.osc != d.osc);
  CHECK(c.audio != d.audio);
  CHECK(c.clock != d.clock);
  CHECK(c.engine != d.engine);
  CHECK(c.sampling != d.sampling);
  CHECK(c.log != d.log);
}

TEST_CASE("command-line overrides are applied over the file and checked the same way", "[unit][config]") {
  const std::vector<std::string> ok{"sampling.temperature=0.8",
                                    "midi.output=Keystation 49",
                                    "engine.mode=accompany",
                                    "midi.input_channels=[2, 3]",
                                    "cc.top_k = 30",
                                    "osc.enabled=false"};
  const Config c = load_config_file(kData / "config" / "good" / "minimal.toml", ok);
  CHECK(c.sampling.temperature == 0.8);
  CHECK(c.midi.output == "Keystation 49");  // a bare word is a string
  CHECK(c.engine.mode == nextbeat::config::Mode::kAccompany);
  CHECK(c.midi.input_channels == std::vector<int>{2, 3});
  CHECK(c.cc.at("top_k") == 30);
  CHECK_FALSE(c.osc.enabled);

  SECTION("a bad value names the override and what is allowed") {
    const std::vector<std::string> bad{"sampling.temperature=hot"};
    const auto issues = issues_of([&] { load_config_string("", "f.toml", bad); });
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].source == "-o sampling.temperature=hot");
    CHECK(issues[0].key == "sampling.temperature");
    CHECK_THAT(issues[0].message, Catch::Contains("expected a number in 0.01..10, got the string \"hot\""));
    CHECK(issues[0].to_string() ==
          "-o sampling.temperature=hot: sampling.temperature: expected a number in 0.01..10, got the string \"hot\"");
  }
  SECTION("key auto, chord_follow and split_note, and their errors") {
    const Config a = load_config_string(
        "", "f.toml", std::vector<std::string>{"sampling.key=auto", "sampling.chord_follow=2", "midi.split_note=128"});
    CHECK(a.sampling.key == nextbeat::config::kKeyAuto);
    CHECK(a.sampling.chord_follow == 2.0);
    CHECK(a.midi.split_note == 128);
    auto issues = issues_of([&] { load_config_string("", "f.toml", std::vector<std::string>{"midi.split_note=129"}); });
    REQUIRE(issues.size() == 1);
    CHECK_THAT(issues[0].message, Catch::Contains("expected an integer in 0..128"));
    issues = issues_of([&] { load_config_string("", "f.toml", std::vector<std::string>{"sampling.key=H"}); });
    REQUIRE(issues.size() == 1);
    CHECK_THAT(issues[0].message, Catch::Contains("\"auto\" (follow the performer)"));
    issues = issues_of([&] { load_config_string("", "f.toml", std::vector<std::string>{"sampling.chord_follow=-1"}); });
    REQUIRE(issues.size() == 1);
    CHECK_THAT(issues[0].message, Catch::Contains("expected a number in 0..8"));
  }
  SECTION("the bundled models by name") {
    for (const char* name : {"default:events", "default:accompany", "default:pianoroll"}) {
      const Config a = load_config_string("", "f.toml", std::vector<std::string>{std::string("model.path=") + name});
      CHECK(a.model.path == name);
    }
    const auto issues =
        issues_of([&] { load_config_string("", "f.toml", std::vector<std::string>{"model.path=default:drums"}); });
    REQUIRE(issues.size() == 1);
    CHECK_THAT(issues[0].message, Catch::Contains("default:events | default:accompany | default:pianoroll"));
  }
  SECTION("unknown keys get a suggestion") {
    const std::vector<std::string> bad{"sampling.tempreature=0.5"};
    const auto issues = issues_of([&] { load_config_string("", "f.toml", bad); });
    REQUIRE(issues.size() == 1);
    CHECK_THAT(issues[0].message, Catch::Contains("did you mean 'temperature'?"));
  }
  SECTION("malformed overrides say what form is expected") {
    for (const std::string text : {"temperature=0.5", "sampling.temperature", ".x=1", "sampling.=1"}) {
      const std::vector<std::string> bad{text};
      const auto issues = issues_of([&] { load_config_string("", "f.toml", bad); });
      REQUIRE(issues.size() == 1);
      CHECK_THAT(issues[0].message, Catch::Contains("expected section.key=value"));
    }
  }
  SECTION("a value that looks like TOML must be valid TOML") {
    const std::vector<std::string> bad{"midi.inputs=[\"a\", "};
    const auto issues = issues_of([&] { load_config_string("", "f.toml", bad); });
    REQUIRE(issues.size() == 1);
    CHECK_THAT(issues[0].message, Catch::Contains("not valid TOML"));
  }
  SECTION("a cross-field problem caused by an override is reported at the override") {
    const std::vector<std::string> bad{"sampling.pitch_min=100", "sampling.pitch_max=50"};
    const auto issues = issues_of([&] { load_config_string("", "f.toml", bad); });
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].source == "-o sampling.pitch_max=50");
  }
}

TEST_CASE("did-you-mean suggestions come from edit distance", "[unit][config]") {
  using nextbeat::config::edit_distance;
  CHECK(edit_distance("temprature", "temperature") == 1);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("a syntax error on a line of open brackets alone is reported, not a crash (found by fuzz: config)",
          "[unit][config]") {
  for (const char* text : {"[model]\npath = \"x\"\n\n[\n\n[midi]\n", "[", "[[", "[]\n", "[[]]", "a = 1\n[ ]\n"}) {
    INFO(text);
    CHECK_THROWS_AS(nextbeat::config::load_config_string(text, "fuzz.toml"), nextbeat::config::ConfigError);
  }
}
