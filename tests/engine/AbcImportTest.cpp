#include "engine/music/AbcImport.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "SharedData.h"
#include "engine/music/MidiFile.h"
#include "engine/util/Subprocess.h"
#include "engine/util/TempDirectory.h"

using namespace nextbeat::engine;
namespace fs = std::filesystem;

namespace {

const char* const kTunes = "nottingham-jukedeck-trainvalid";

// Sets an environment variable for one scope and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Extracts some members of the Nottingham archive with tar (argv, no shell).
void extract(const fs::path& archive, const fs::path& into, const std::vector<std::string>& members) {
  std::vector<std::string> args = {"tar", "-xzf", archive.string(), "-C", into.string()};
  for (const auto& m : members) args.push_back(std::string(kTunes) + "/" + m);
  const ProcessResult result = run_process(args, {.log = into / "tar.log"});
  REQUIRE(result.succeeded());
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

std::vector<int> pitches(const Score& score, int track, int channel) {
  std::vector<int> out;
  for (const auto& n : score.notes) {
    if (n.track == track && n.channel == channel) out.push_back(n.pitch);
  }
  return out;
}

std::size_t entries(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

// The message of the AbcImportError that f throws ("" when it throws none).
template <typename F>
std::string abc_error(F f) {
  try {
    f();
  } catch (const AbcImportError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a Nottingham tune converts, and its melody matches the jukedeck MIDI", "[unit][data]") {
  const fs::path archive = nextbeat::test::shared_data("nottingham/" + std::string(kTunes) + ".tar.gz");
  TempDirectory dir("nextbeat-abc-test");
  extract(archive, dir.path(), {"train/abc/ashover1.abc", "train/midi_melody/ashover1.mid"});
  const fs::path abc = dir.path() / kTunes / "train/abc/ashover1.abc";

  const std::vector<Score> scores = import_abc_file(abc);
  REQUIRE(scores.size() == 1);
  const Score& tune = scores[0];
  CHECK(tune.source == abc.string() + " tune 1");
  REQUIRE(tune.notes.size() > 50);
  for (const auto& n : tune.notes) {
    CHECK(n.pitch >= 0);
    CHECK(n.pitch <= 127);
    CHECK(n.end_beat > n.start_beat);
  }
  REQUIRE(!tune.time_signatures.empty());
  CHECK(tune.time_signatures[0].numerator == 3);  // M:3/4, a waltz
  CHECK(tune.time_signatures[0].denominator == 4);

  // abc2midi puts the melody on track 1, channel 0 (chords follow on track 2). The jukedeck MIDI was made from
  // the same ABC by other software; the tunes must agree note for note as far as the shorter one goes.
  const Score jukedeck = read_midi_file(dir.path() / kTunes / "train/midi_melody/ashover1.mid");
  const std::vector<int> ours = pitches(tune, 1, 0);
  const std::vector<int> theirs = pitches(jukedeck, 0, 0);
  REQUIRE(theirs.size() > 20);
  REQUIRE(ours.size() >= theirs.size());
  CHECK(std::vector<int>(ours.begin(), ours.begin() + static_cast<long>(theirs.size())) == theirs);
}

TEST_CASE("ABC files: every tune, any path, clear conversion errors", "[unit]") {
  SECTION("every tune of a file comes back, whatever the path looks like") {
    TempDirectory dir("nextbeat-abc-test");
    const fs::path tmp = dir.path() / "tmp";
    fs::create_directory(tmp);
    ScopedEnv tmpdir("TMPDIR", tmp.string());  // to see that the private directory goes away
    const fs::path abc = dir.path() / "two tunes, 'quoted' \"too\".abc";
    write_text(abc,
               "% a file header\nL:1/8\n\n"
               "X:3\nT:first\nM:4/4\nK:C\nCDEF GABc|\n\n"
               "X:10\nT:second\nM:2/4\nK:G\nG2B2|d4|\n");
    const std::vector<Score> scores = import_abc_file(abc);
    REQUIRE(scores.size() == 2);
    CHECK(scores[0].source == abc.string() + " tune 3");
    CHECK(scores[1].source == abc.string() + " tune 10");
    std::vector<int> first;
    for (const auto& n : scores[0].notes) first.push_back(n.pitch);
    CHECK(first == std::vector<int>{60, 62, 64, 65, 67, 69, 71, 72});
    CHECK(scores[1].notes.size() == 3);
    CHECK(scores[1].time_signatures[0] == TimeSignature{0, 2, 4});
    CHECK(entries(tmp) == 0);
  }

  SECTION("a tune abc2midi cannot convert gives its message") {
    TempDirectory dir("nextbeat-abc-test");
    const fs::path abc = dir.path() / "bad.abc";
    write_text(abc, "X:1\nT:fine\nK:C\nCDEF|\n\nX:2\nT:broken\nM:4/4\nK:Hm\nCDEF|\n");
    CHECK_THAT(abc_error([&] { import_abc_file(abc); }), Catch::Contains(abc.string() + " tune 2 (line 6)") &&
                                                             Catch::Contains("abc2midi wrote no MIDI file") &&
                                                             Catch::Contains("K: field"));
  }

  SECTION("files with no tune or a repeated tune number are refused") {
    TempDirectory dir("nextbeat-abc-test");
    const fs::path none = dir.path() / "none.abc";
    write_text(none, "T:no X field\nK:C\nCDEF|\n");
    CHECK_THROWS_WITH(import_abc_file(none), Catch::Contains("no tune found"));
    const fs::path twice = dir.path() / "twice.abc";
    write_text(twice, "X:1\nT:a\nK:C\nC|\n\nX:1\nT:b\nK:C\nD|\n");
    CHECK_THROWS_WITH(import_abc_file(twice), Catch::Contains("twice.abc:6: tune number X:1 is used again"));
    CHECK_THROWS_WITH(import_abc_file(dir.path() / "missing.abc"), Catch::Contains("cannot read"));
  }
}

TEST_CASE("a missing or hanging abc2midi", "[unit]") {
  SECTION("a missing abc2midi gives a clear error") {
    TempDirectory dir("nextbeat-abc-test");
    const fs::path abc = dir.path() / "tune.abc";
    write_text(abc, "X:1\nT:t\nK:C\nCDEF|\n");
    const fs::path empty = dir.path() / "empty-bin";
    fs::create_directory(empty);
    {
      ScopedEnv path("PATH", empty.string());
      CHECK_THAT(abc_error([&] { import_abc_file(abc); }),
                 Catch::Contains("abc2midi not found") && Catch::Contains("install the Debian package abcmidi"));
    }
    CHECK(import_abc_file(abc).size() == 1);  // PATH is back
  }

  SECTION("an abc2midi that hangs is stopped after the time limit") {
    TempDirectory dir("nextbeat-abc-test");
    const fs::path abc = dir.path() / "tune.abc";
    write_text(abc, "X:1\nT:t\nK:C\nCDEF|\n");
    const fs::path hang = dir.path() / "hang.sh";
    write_text(hang, "#!/bin/sh\nexec sleep 30\n");
    fs::permissions(hang, fs::perms::owner_all);
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH(import_abc_file(abc, {hang.string(), 1}), Catch::Contains("did not finish within 1 s"));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  }
}
