// The models shipped in engine/models/, by the names that load them
// (default:NAME -> NAME.nbm): one list for the config's check, the help
// texts and the errors that name them.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <utility>

namespace nextbeat::config {

inline constexpr std::array<std::string_view, 3> kBundledModels{"default:events", "default:accompany",
                                                                "default:pianoroll"};

// Names kept when their model was merged into another: default:accompany was
// a second roles model until default:events became one that plays along and
// alone (2026-12); configs and OSC messages that name it keep working.
inline constexpr std::array<std::pair<std::string_view, std::string_view>, 1> kBundledModelAliases{
    {{"default:accompany", "default:events"}}};

// The name whose file a bundled name loads: its alias's target, or itself.
inline std::string_view bundled_model_target(std::string_view name) {
  for (const auto& [alias, target] : kBundledModelAliases)
    if (name == alias) return target;
  return name;
}

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
