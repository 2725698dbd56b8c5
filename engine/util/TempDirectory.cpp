#include "engine/util/TempDirectory.h"

#include <stdlib.h>

#include <cerrno>
#include <system_error>

namespace nextbeat::engine {

namespace fs = std::filesystem;

TempDirectory::TempDirectory(const std::string& prefix) {
  std::string pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "cannot create a temporary directory '" + pattern + "'");
  }
  path_ = pattern;
}

TempDirectory::~TempDirectory() {
  std::error_code ignored;
  // A user of the directory may have made it read-only (tests of write failures do); its entries could not be
  // removed then.
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
  fs::remove_all(path_, ignored);
}

}  // namespace nextbeat::engine
