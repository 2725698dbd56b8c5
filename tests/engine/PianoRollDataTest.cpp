// Piano-roll JSON: the shared data sets load with the README's counts, the SATB
// file is recognised, and malformed input gives "<file>: <JSON path>: <what>".
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "SharedData.h"
#include "engine/music/PianoRollData.h"
#include "engine/util/TempDirectory.h"

namespace fs = std::filesystem;
using namespace nextbeat::engine;
using nextbeat::test::shared_data;

namespace {

std::size_t count(const PianoRollSplits& splits, const std::string& name) {
  const auto it = splits.find(name);
  return it == splits.end() ? 0 : it->second.size();
}

std::string error_of(const std::string& text, const std::string& name = "bad.json") {
  try {
    parse_pianoroll_json(text, name, 1);
  } catch (const PianoRollDataError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("the shared piano-roll JSON loads with the README's counts", "[unit][data]") {
  for (const char* file :
       {"jsb-chorales-quarter.json", "jsb-chorales-8th.json", "jsb-chorales-16th.json", "Jsb16thSeparated.json"}) {
    INFO(file);
    const auto splits = load_pianoroll_json(shared_data("jsb_chorales/" + std::string(file)), 1);
    CHECK(splits.size() == 3);
    CHECK(count(splits, "train") == 229);
    CHECK(count(splits, "valid") == 76);
    CHECK(count(splits, "test") == 77);
  }
  const struct {
    const char* stem;
    std::size_t train, valid;
  } sets[] = {{"nottingham/nottingham-pianoroll", 694, 173},
              {"musedata/musedata-pianoroll", 524, 135},
              {"piano-midi.de/piano-midi.de-pianoroll", 87, 12}};
  for (const auto& set : sets) {
    INFO(set.stem);
    const auto train = load_pianoroll_json(shared_data(std::string(set.stem) + "-train.json"), 2);
    const auto valid = load_pianoroll_json(shared_data(std::string(set.stem) + "-valid.json"), 2);
    CHECK(train.size() == 1);
    CHECK(count(train, "train") == set.train);
    CHECK(valid.size() == 1);
    CHECK(count(valid, "valid") == set.valid);
  }
}

TEST_CASE("Jsb16thSeparated.json: SATB steps become frames of the sounding voices", "[unit][data]") {
  const auto separated = load_pianoroll_json(shared_data("jsb_chorales/Jsb16thSeparated.json"), 4);
  // The test split is in the same order in both files (train and valid are not).
  const auto plain = load_pianoroll_json(shared_data("jsb_chorales/jsb-chorales-16th.json"), 4);
  const auto& a = separated.at("test");
  const auto& b = plain.at("test");
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].source);
    REQUIRE(a[i].steps == b[i].steps);
  }
  const EncodedSequence& first = separated.at("train").at(0);
  CHECK(first.source.ends_with("Jsb16thSeparated.json: train[0]"));
  CHECK(first.steps.at(0).frame.count() == 4);
  CHECK(first.steps.at(5).beat_tick == 1);
  CHECK(first.steps.at(5).bar_beat == 1);
  CHECK(first.steps.at(17).bar_beat == 0);  // 4 beats a bar
}

TEST_CASE("piano-roll JSON: small inputs, both formats", "[unit]") {
  const auto splits = parse_pianoroll_json(R"({"train": [[[60, 64.0], [], [60, 60]]], "test": []})", "x.json", 2);
  REQUIRE(splits.at("train").size() == 1);
  CHECK(splits.at("test").empty());
  const auto& steps = splits.at("train")[0].steps;
  REQUIRE(steps.size() == 3);
  CHECK(steps[0].frame.count() == 2);
  CHECK(steps[0].frame.test(60 - kLowestKey));
  CHECK(steps[0].frame.test(64 - kLowestKey));
  CHECK(steps[1].frame.none());
  CHECK(steps[2].frame.count() == 1);
  CHECK(steps[1].beat_tick == 1);
  CHECK(steps[2].beat_tick == 0);
  CHECK(steps[2].bar_beat == 1);
  CHECK(steps[0].token == -1);

  // SATB by content: every step has 4 entries and one is -1.
  const auto satb = parse_pianoroll_json(R"({"valid": [[[72, -1, 60, 48], [72, 67, 60, 48]]]})", "x.json", 1);
  CHECK(satb.at("valid")[0].steps[0].frame.count() == 3);
  CHECK(satb.at("valid")[0].steps[1].frame.count() == 4);
  // SATB by name: a step that is not 4 voices is an error.
  CHECK(error_of(R"({"train": [[[72, -1, 60, 48], [72, 60]]]})", "MySeparated.json") ==
        "MySeparated.json: train[0][1]: expected 4 voices [S, A, T, B], got 2 entries");
}

TEST_CASE("piano-roll JSON: malformed input names the file and the JSON path", "[unit]") {
  CHECK(error_of(R"({"train": [[[60], [60, 130]]]})", "jsb.json") ==
        "jsb.json: train[0][1][1]: expected a MIDI pitch 21..108, got 130");
  CHECK(error_of(R"({"train": [[[60]], [[60, "C4"]]]})") ==
        R"(bad.json: train[1][0][1]: expected a MIDI pitch 21..108, got a string "C4")");
  CHECK(error_of(R"({"valid": [[[60.5]]]})") == "bad.json: valid[0][0][0]: expected a MIDI pitch 21..108, got 60.5");
  CHECK(error_of(R"({"train": [[[20]]]})") == "bad.json: train[0][0][0]: expected a MIDI pitch 21..108, got 20");
  CHECK(error_of(R"({"train": [[[-1, 60, 60]]]})") ==
        "bad.json: train[0][0][0]: expected a MIDI pitch 21..108, got -1");
  CHECK_THAT(error_of(R"({"train": [[[99999999999999999999999]]]})"),  // read as a double
             Catch::StartsWith("bad.json: train[0][0][0]: expected a MIDI pitch 21..108, got 9.99"));
  CHECK(error_of(R"({"train": [[[18446744073709551615]]]})") ==
        "bad.json: train[0][0][0]: expected a MIDI pitch 21..108, got 18446744073709551615");
  CHECK(error_of(R"({"train": [[[-9223372036854775808]]]})") ==
        "bad.json: train[0][0][0]: expected a MIDI pitch 21..108, got -9223372036854775808");
  CHECK(error_of(R"({"train": [[[true]]]})") == "bad.json: train[0][0][0]: expected a MIDI pitch 21..108, got true");
  CHECK(error_of(R"({"train": [[[null]]]})") == "bad.json: train[0][0][0]: expected a MIDI pitch 21..108, got null");
  CHECK(error_of(R"({"train": [[60, 64]]})") ==
        "bad.json: train[0][0]: expected a step (an array of MIDI pitches), got 60");
  CHECK(error_of(R"({"train": [{"a": 1}]})") ==
        "bad.json: train[0]: expected a sequence (an array of steps), got an object");
  CHECK(error_of(R"({"train": "all of bach"})") ==
        R"(bad.json: train: expected an array of sequences, got a string "all of bach")");
  CHECK(error_of(R"([[[60]]])") == R"(bad.json: expected an object {"<split>": [sequences]}, got an array)");
  CHECK(error_of(R"(42)") == R"(bad.json: expected an object {"<split>": [sequences]}, got 42)");
  // Not JSON at all: nlohmann's message says where.
  CHECK_THAT(error_of(""), Catch::StartsWith("bad.json: invalid JSON: parse error at line 1, column 1"));
  CHECK_THAT(error_of(R"({"train": [[[60]])"), Catch::StartsWith("bad.json: invalid JSON: parse error at line 1"));
  CHECK_THAT(error_of(R"({"train": [[[1e400]]]})"), Catch::StartsWith("bad.json: invalid JSON:"));
  CHECK_THAT(error_of(std::string("{\"train\": [[[6\0]]]}", 19)), Catch::StartsWith("bad.json: invalid JSON:"));
  // A long string is cut short in the message.
  CHECK(error_of(R"({"train": [[[")" + std::string(1000, 'x') + R"("]]]})").size() < 150);
}

TEST_CASE("piano-roll JSON files: the message names the file as given", "[unit]") {
  const TempDirectory scratch("nextbeat-pianoroll-test");
  const fs::path& dir = scratch.path();
  const fs::path empty = dir / "empty.json";
  std::ofstream(empty).close();
  CHECK_THROWS_WITH(load_pianoroll_json(empty, 1), Catch::StartsWith(empty.string() + ": invalid JSON:"));
  const fs::path bad = dir / "jsb.json";
  std::ofstream(bad) << R"({"train": [[], [], [], [[60]]], "valid": [[[60, 130]]]})";
  CHECK_THROWS_WITH(load_pianoroll_json(bad, 1),
                    bad.string() + ": valid[0][0][1]: expected a MIDI pitch 21..108, got 130");
  CHECK_THROWS_WITH(load_pianoroll_json(dir / "missing.json", 1),
                    (dir / "missing.json").string() + ": No such file or directory");
}
