#include "engine/util/AtomicFile.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "engine/util/TempDirectory.h"

using namespace nextbeat::engine;
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("atomic write creates a file and leaves no temporary", "[unit]") {
  TempDirectory dir("nextbeat-atomictest");
  const fs::path path = dir.path() / "model.pt";
  const std::vector<std::uint8_t> bytes = {0, 1, 2, 255, '\n', 0};
  write_file_atomically(path, bytes);
  const std::string back = read_all(path);
  CHECK(back == std::string("\0\1\2\xff\n\0", 6));
  CHECK(names_in(dir.path()) == std::vector<std::string>{"model.pt"});

  write_file_atomically(dir.path() / "empty", {});
  CHECK(fs::file_size(dir.path() / "empty") == 0);
}

TEST_CASE("atomic write replaces an existing file and keeps its permissions", "[unit]") {
  TempDirectory dir("nextbeat-atomictest");
  const fs::path path = dir.path() / "plot.svg";
  write_text_file_atomically(path, "a much longer first version of the file\n");
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  write_text_file_atomically(path, "short\n");
  CHECK(read_all(path) == "short\n");
  CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(names_in(dir.path()) == std::vector<std::string>{"plot.svg"});

  // A relative path works too (its directory is the working directory).
  const fs::path previous = fs::current_path();
  fs::current_path(dir.path());
  write_text_file_atomically("relative.txt", "here\n");
  fs::current_path(previous);
  CHECK(read_all(dir.path() / "relative.txt") == "here\n");
}

TEST_CASE("atomic write errors name the path and the reason", "[unit]") {
  TempDirectory dir("nextbeat-atomictest");
  SECTION("a missing directory") {
    const fs::path path = dir.path() / "no-such-dir" / "out.svg";
    try {
      write_text_file_atomically(path, "x");
      FAIL("no exception");
    } catch (const std::system_error& error) {
      const std::string what = error.what();
      CHECK_THAT(what, Catch::Contains(path.string()));
      CHECK_THAT(what, Catch::Contains("No such file or directory"));
      CHECK(error.code() == std::errc::no_such_file_or_directory);
    }
  }
  SECTION("a read-only directory") {
    // Root writes through permissions: as root (how scripts/setup.sh and CI
    // run), the write is tried in a child that has dropped to nobody.
    fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
    if (::geteuid() == 0) {
      const pid_t child = ::fork();
      REQUIRE(child >= 0);
      if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0 || ::geteuid() == 0) std::_Exit(3);
        try {
          write_text_file_atomically(dir.path() / "out.svg", "x");
          std::_Exit(1);  // no exception
        } catch (const std::system_error& error) {
          std::_Exit(std::string(error.what()).find("Permission denied") != std::string::npos ? 0 : 2);
        }
      }
      int status = 0;
      REQUIRE(::waitpid(child, &status, 0) == child);
      REQUIRE(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 0);  // 1: written anyway, 2: another error, 3: could not drop to nobody
    } else {
      try {
        write_text_file_atomically(dir.path() / "out.svg", "x");
        FAIL("no exception");
      } catch (const std::system_error& error) {
        CHECK_THAT(std::string(error.what()), Catch::Contains("Permission denied"));
      }
    }
    fs::permissions(dir.path(), fs::perms::owner_all);
    CHECK(names_in(dir.path()).empty());
  }
  SECTION("a directory in the way: the rename fails and the temporary goes") {
    fs::create_directory(dir.path() / "taken");
    fs::create_directory(dir.path() / "taken" / "child");  // non-empty: rename over it fails
    CHECK_THROWS_AS(write_text_file_atomically(dir.path() / "taken", "x"), std::system_error);
    CHECK(names_in(dir.path()) == std::vector<std::string>{"taken"});
  }
}

TEST_CASE("concurrent atomic writes leave one whole version", "[unit]") {
  TempDirectory dir("nextbeat-atomictest");
  const fs::path path = dir.path() / "checkpoint";
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&path, t] {
      const std::string text(10000, static_cast<char>('a' + t));
      for (int i = 0; i < 20; ++i) write_text_file_atomically(path, text);
    });
  }
  for (auto& thread : threads) thread.join();
  const std::string final_text = read_all(path);
  REQUIRE(final_text.size() == 10000);
  CHECK(final_text == std::string(10000, final_text.front()));
  CHECK(names_in(dir.path()) == std::vector<std::string>{"checkpoint"});
}
