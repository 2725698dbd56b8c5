#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "Skip.h"
#include "config/ConfigLoader.h"
#include "config/ConfigWriter.h"
#include "engine/util/TempDirectory.h"

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

namespace {

std::string with_cc(std::string_view text, const nextbeat::config::CcMap& bindings) {
  return nextbeat::config::with_cc_bindings(text, bindings, "rig.toml");
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const fs::path& path, std::string_view text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("MIDI-learn writes the cc table back and keeps the rest of the file", "[unit][config]") {
  const std::string file =
      "# my rig\n[sampling]\ntemperature = 0.9  # warm\n\n[cc]  # knobs\ntemperature = 21\n# old\n\n[log]\nlevel = "
      "\"debug\"\n";
  const std::string out = with_cc(file, {{"density", 30}, {"temperature", 21}});
  CHECK(out ==
        "# my rig\n[sampling]\ntemperature = 0.9  # warm\n\n[cc]  # knobs\ndensity = 30\ntemperature = 21\n# "
        "old\n\n[log]\n"
        "level = \"debug\"\n");
  // A file without [cc] gets one at the end; a default binding that is gone is
  // written as -1, so that the file loads back to exactly what was learned.
  CHECK(with_cc("[clock]\ntempo_bpm = 90.0", {{"tempo", 7}}) ==
        "[clock]\ntempo_bpm = 90.0\n\n[cc]\ntempo = 7\ndensity = -1\ntemperature = -1\n");
  CHECK(load_config_string(out, "rig.toml").cc == nextbeat::config::CcMap{{"density", 30}, {"temperature", 21}});
}

TEST_CASE("MIDI-learn write-back follows the TOML, not the look of the lines", "[unit][config]") {
  const nextbeat::config::CcMap learned{{"density", 30}, {"temperature", 21}};
  // Each of these is a valid config whose cc table a line editor would get wrong.
  const std::vector<std::string> files = {
      "[\"cc\"]\ntemperature = 40\n",                                                    // a quoted header
      "cc.temperature = 30\n\n[log]\nlevel = \"info\"\n",                                // dotted keys at the root
      "cc = { temperature = 30, density = 31 }\n[log]\nlevel = \"info\"\n",              // an inline table
      "[midi]\noutput = \"\"\"\n[cc]\ntemperature = 3\n\"\"\"\n\n[cc]\ndensity = 23\n",  // "[cc]" in a string
  };
  for (const auto& file : files) {
    INFO(file);
    REQUIRE_NOTHROW(load_config_string(file, "rig.toml"));
    const std::string out = with_cc(file, learned);
    INFO(out);
    const Config loaded = load_config_string(out, "rig.toml");
    CHECK(loaded.cc == learned);
    // Everything but the bindings is as it was.
    Config expected = load_config_string(file, "rig.toml");
    expected.cc = learned;
    CHECK(loaded == expected);
  }
  // The multi-line string survives whole.
  CHECK(load_config_string(with_cc(files[3], learned), "rig.toml").midi.output == "[cc]\ntemperature = 3\n");
}

TEST_CASE("MIDI-learn write-back refuses a file that does not parse, naming it", "[unit][config]") {
  try {
    with_cc("[cc]\ntemperature = \n", {{"density", 30}});
    FAIL("no error");
  } catch (const nextbeat::config::ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("rig.toml:2"));
    CHECK_THAT(e.what(), Catch::Contains("not written"));
  }
}

TEST_CASE("saving bindings keeps a symlink, and refuses a vanished or odd file", "[unit][config]") {
  const nextbeat::engine::TempDirectory dir("nextbeat-cc-save");
  const fs::path real = dir.path() / "real.toml";
  const fs::path link = dir.path() / "nextbeat.toml";
  write_text(real, "[log]\nlevel = \"info\"\n");
  fs::create_symlink(real, link);
  nextbeat::config::save_cc_bindings(link, {{"density", 30}, {"temperature", 21}});
  CHECK(fs::is_symlink(link));
  CHECK(load_config_file(link).cc.at("density") == 30);
  CHECK(load_config_file(real).cc.at("density") == 30);

  // Gone: not recreated with [cc] alone.
  fs::remove(real);
  CHECK_THROWS_WITH(nextbeat::config::save_cc_bindings(link, {{"density", 30}}), Catch::Contains("gone"));
  CHECK(!fs::exists(real));

  // A FIFO is neither read (it would block) nor replaced.
  const fs::path fifo = dir.path() / "fifo.toml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(nextbeat::config::save_cc_bindings(fifo, {{"density", 30}}), Catch::Contains("not a regular file"));
  CHECK(fs::is_fifo(fifo));
}

TEST_CASE("a config that is a FIFO or a device is refused, not read", "[unit][config]") {
  const nextbeat::engine::TempDirectory dir("nextbeat-config-fifo");
  const fs::path fifo = dir.path() / "nextbeat.toml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(load_config_file(fifo), Catch::Contains("not a regular file (a FIFO)"));
  CHECK_THROWS_WITH(load_config_file("/dev/zero"),
                    Catch::Contains("/dev/zero: cannot read the config: is not a regular file"));
  CHECK_THROWS_WITH(load_config_file(dir.path()), Catch::Contains("a directory"));
}

// ENOSPC: the save runs in a child with a private mount namespace (a user
// namespace too when not root) on a 16 KiB tmpfs that is full.
TEST_CASE("saving bindings on a full disk leaves the file as it was", "[unit][config]") {
  const nextbeat::engine::TempDirectory dir("nextbeat-cc-full");
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const uid_t uid = ::getuid();
    const gid_t gid = ::getgid();
    if (::unshare(uid == 0 ? CLONE_NEWNS : CLONE_NEWNS | CLONE_NEWUSER) != 0) std::_Exit(77);
    if (uid != 0) {
      write_text("/proc/self/setgroups", "deny");
      write_text("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
      write_text("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
    }
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) std::_Exit(77);
    if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=16k") != 0) std::_Exit(77);
    const fs::path config = dir.path() / "nextbeat.toml";
    const std::string before = "[log]\nlevel = \"info\"\n";
    write_text(config, before);
    {
      std::ofstream filler(dir.path() / "filler", std::ios::binary);
      const std::string block(1024, 'x');
      for (int i = 0; i < 64 && filler.write(block.data(), block.size()) && filler.flush(); ++i) {
      }
    }
    try {
      nextbeat::config::save_cc_bindings(config, {{"density", 30}});
      std::_Exit(3);  // written on a full disk?
    } catch (const nextbeat::config::ConfigError& e) {
      if (std::string(e.what()).find("No space left") == std::string::npos) std::_Exit(4);
    }
    if (read_text(config) != before) std::_Exit(5);
    for (const auto& entry : fs::directory_iterator(dir.path()))
      if (entry.path().filename().string().starts_with(".nextbeat.toml.tmp")) std::_Exit(6);  // temp file left
    std::_Exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) nextbeat::test::skip_test("no private mount namespace here (unshare refused)");
  CHECK(WEXITSTATUS(status) == 0);  // 3: written anyway, 4: wrong error, 5: file changed, 6: temp file left
}
