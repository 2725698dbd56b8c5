// A private scratch directory that lives as long as one scope: for converting or extracting files where the
// user never sees them, and for tests.
#pragma once

#include <filesystem>
#include <string>

namespace nextbeat::engine {

// Creates "$TMPDIR/<prefix>-XXXXXX" (std::filesystem::temp_directory_path(), /tmp when TMPDIR is unset) with
// mkdtemp, so the directory is new, mode 0700 and its name is not guessable. The destructor removes it with
// everything inside, ignoring errors (it must not throw, and a leftover in $TMPDIR is harmless).
class TempDirectory {
 public:
  // Throws std::system_error naming the pattern when mkdtemp fails (std::filesystem::filesystem_error when
  // there is no usable temporary directory at all).
  explicit TempDirectory(const std::string& prefix);
  ~TempDirectory();
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace nextbeat::engine
