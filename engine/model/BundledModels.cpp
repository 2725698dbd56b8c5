#include "engine/model/BundledModels.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/BundledModelNames.h"
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
  // A bundled name is a plain word: "default:../x" must not reach a file
  // outside the model directories (names come over OSC too).
  const std::string_view bare = name.substr(kPrefix.size());
  const bool plain = !bare.empty() && bare.size() <= 64 && std::all_of(bare.begin(), bare.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
  if (!plain) throw ModelFileError(std::string(name) + ": a bundled model's name is a word of a-z, 0-9, _ and -");
  const std::string file = std::string(config::bundled_model_target(name).substr(kPrefix.size())) + ".nbm";
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
