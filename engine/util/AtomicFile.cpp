#include "engine/util/AtomicFile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>

namespace nextbeat::engine {
namespace {

[[noreturn]] void throw_errno(int error, const std::filesystem::path& path, const std::string& step) {
  throw std::system_error(error, std::generic_category(), "cannot write '" + path.string() + "' (" + step + ")");
}

// Closes the descriptor and removes the temporary file unless committed.
class TempFile {
 public:
  TempFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }

  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  // Closes the descriptor, reporting the error close may carry (NFS, quota).
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }
  void commit() { committed_ = true; }

 private:
  std::filesystem::path path_;
  int fd_;
  bool committed_ = false;
};

std::filesystem::path temp_path_for(const std::filesystem::path& path) {
  // pid + a process-wide counter: unique across threads and processes; O_EXCL
  // below still refuses a leftover from a crashed process with a reused pid.
  static std::atomic<unsigned long> counter{0};
  const std::string name = "." + path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                           std::to_string(counter.fetch_add(1));
  return path.parent_path() / name;
}

void sync_directory(const std::filesystem::path& directory, const std::filesystem::path& path) {
  const int fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno(errno, path, "opening its directory to sync it");
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  // Some file systems cannot fsync a directory (EINVAL); the rename is done
  // and as durable as they allow.
  if (result != 0 && error != EINVAL) throw_errno(error, path, "syncing its directory");
}

}  // namespace

void write_file_atomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  if (path.filename().empty()) throw_errno(EISDIR, path, "the path names no file");
  mode_t mode = 0666;
  bool keep_mode = false;
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)) {
    mode = existing.st_mode & 07777;
    keep_mode = true;
  }

  const std::filesystem::path temp_path = temp_path_for(path);
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) throw_errno(errno, path, "creating temporary file '" + temp_path.string() + "'");
  TempFile temp(temp_path, fd);

  if (keep_mode && ::fchmod(temp.fd(), mode) != 0) throw_errno(errno, path, "setting the permissions");
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(temp.fd(), bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, path, "writing temporary file '" + temp_path.string() + "'");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(temp.fd()) != 0) throw_errno(errno, path, "syncing temporary file '" + temp_path.string() + "'");
  if (temp.close() != 0) throw_errno(errno, path, "closing temporary file '" + temp_path.string() + "'");
  if (::rename(temp_path.c_str(), path.c_str()) != 0) throw_errno(errno, path, "renaming the temporary file over it");
  temp.commit();
  sync_directory(path.parent_path(), path);
}

void write_text_file_atomically(const std::filesystem::path& path, std::string_view text) {
  write_file_atomically(path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace nextbeat::engine
