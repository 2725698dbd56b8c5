#include "engine/util/InputFile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nextbeat::engine {
namespace {

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

}  // namespace

InputFile::InputFile(const std::filesystem::path& path) : name_(path.string()) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer. It changes nothing
  // for a regular file, and is cleared before reading anyway.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) throw InputFileError(name_ + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int error = errno;
    ::close(fd_);
    throw InputFileError(name_ + ": cannot stat: " + std::strerror(error));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw InputFileError(name_ + ": is not a regular file (" + kind_of(st.st_mode) + ")");
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  size_ = static_cast<std::uint64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t InputFile::read_at(std::uint64_t offset, std::span<std::uint8_t> out) const {
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw InputFileError(name_ + ": cannot read: " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

std::vector<std::uint8_t> InputFile::read_all(std::uint64_t max_bytes, std::string_view what) const {
  if (size_ > max_bytes)
    throw InputFileError(name_ + ": is " + std::to_string(size_) + " bytes, more than the " +
                         std::to_string(max_bytes) + " " + std::string(what) + " may have");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size_));
  bytes.resize(read_at(0, bytes));
  return bytes;
}

std::vector<std::uint8_t> read_input_file(const std::filesystem::path& path, std::uint64_t max_bytes,
                                          std::string_view what) {
  return InputFile(path).read_all(max_bytes, what);
}

std::string read_input_text(const std::filesystem::path& path, std::uint64_t max_bytes, std::string_view what) {
  const auto bytes = read_input_file(path, max_bytes, what);
  return {bytes.begin(), bytes.end()};
}

}  // namespace nextbeat::engine
