// Where model files are found: the bundled models by name, other names as paths.
#pragma once

#include <filesystem>
#include <string_view>

namespace nextbeat::engine {

// default:NAME names a bundled model (config/BundledModelNames.h); anything
// else is a path. Looks in $NEXTBEAT_MODEL_DIR, the installed data directory
// and the source tree, in that order; an alias (kBundledModelAliases) loads
// its target's file. Throws ModelFileError when not found.
std::filesystem::path resolve_model_path(std::string_view name);

}  // namespace nextbeat::engine
