#include "engine/model/BundledModels.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "engine/model/ModelFile.h"

namespace nextbeat::engine {

std::filesystem::path resolve_model_path(std::string_view name) {
  namespace fs = std::filesystem;
  constexpr std::string_view kPrefix = "default:";
  if (!name.starts_with(kPrefix)) {
    const fs::path path(name);
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (!fs::exists(status)) throw ModelFileError(std::string(name) + ": no such model file");
    if (!fs::is_regular_file(status))
      throw ModelFileError(std::string(name) + ": not a model file (not a regular file)");
    return path;
  }
  const std::string file = std::string(name.substr(kPrefix.size())) + ".nbm";
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("NEXTBEAT_MODEL_DIR")) dirs.emplace_back(env);
  dirs.emplace_back(NEXTBEAT_INSTALL_MODEL_DIR);
  dirs.emplace_back(NEXTBEAT_SOURCE_MODEL_DIR);
  std::string looked;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (fs::is_regular_file(dir / file, ec)) return dir / file;
    looked += (looked.empty() ? "" : ", ") + (dir / file).string();
  }
  throw ModelFileError(std::string(name) + ": bundled model not found (looked in " + looked + ")");
}

}  // namespace nextbeat::engine
