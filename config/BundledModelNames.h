// The models shipped in engine/models/, by the names that load them
// (default:NAME -> NAME.nbm): one list for the config's check, the help
// texts and the errors that name them.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

namespace nextbeat::config {

inline constexpr std::array<std::string_view, 3> kBundledModels{"default:events", "default:accompany",
                                                                "default:pianoroll"};

inline bool is_bundled_model(std::string_view name) {
  return std::find(kBundledModels.begin(), kBundledModels.end(), name) != kBundledModels.end();
}

// "default:events | default:accompany | default:pianoroll"
inline std::string bundled_model_list() {
  std::string list;
  for (const std::string_view name : kBundledModels) list.append(list.empty() ? "" : " | ").append(name);
  return list;
}

}  // namespace nextbeat::config
