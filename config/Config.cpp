#include "config/Config.h"

#include "config/Controls.h"

namespace nextbeat::config {

const std::vector<std::string_view>& cc_controls() {
  // Every live control (config/Controls.h); a CC value 0..127 is mapped onto
  // each control's range by cc_to_value.
  static const std::vector<std::string_view> kControls = [] {
    std::vector<std::string_view> names;
    for (const auto& spec : control_specs()) names.push_back(spec.name);
    return names;
  }();
  return kControls;
}

std::string ConfigIssue::to_string() const {
  std::string out = source;
  if (line > 0) {
    out += ':' + std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

namespace {
std::string join_issues(const std::vector<ConfigIssue>& issues) {
  std::string out;
  for (const auto& issue : issues) {
    if (!out.empty()) out += '\n';
    out += issue.to_string();
  }
  return out;
}
}  // namespace

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : std::runtime_error(join_issues(issues)), issues_(std::move(issues)) {}

}  // namespace nextbeat::config
