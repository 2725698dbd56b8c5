// Reading a file whose name came from outside (a model path over OSC, a
// config, a dataset file): it may be a FIFO, a device, a directory or a
// sparse file of any size. InputFile opens without blocking, refuses anything
// but a regular file, and tells the size before anything is allocated, so a
// caller can check a header and the size it implies before reading the rest.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nextbeat::engine {

// "<path>: <what is wrong>", e.g. "/tmp/x: is not a regular file (a FIFO)".
class InputFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InputFile {
 public:
  // Throws InputFileError when the file cannot be opened or is not a regular
  // file. Symlinks are followed: a link to a regular file is one.
  explicit InputFile(const std::filesystem::path& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  std::uint64_t size() const { return size_; }
  const std::string& name() const { return name_; }
  // Fills `out` from `offset`; returns how many bytes were read (fewer only
  // when the file shrank since it was opened). Throws on a read error.
  std::size_t read_at(std::uint64_t offset, std::span<std::uint8_t> out) const;
  // The whole file, or InputFileError naming the size and the limit when it
  // is larger than max_bytes. `what` names the kind of file in that message.
  std::vector<std::uint8_t> read_all(std::uint64_t max_bytes, std::string_view what) const;

 private:
  std::string name_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

std::vector<std::uint8_t> read_input_file(const std::filesystem::path& path, std::uint64_t max_bytes,
                                          std::string_view what);
std::string read_input_text(const std::filesystem::path& path, std::uint64_t max_bytes, std::string_view what);

}  // namespace nextbeat::engine
