#include "config/Config.h"

namespace nextbeat::config {

const std::vector<std::string_view>& cc_controls() {
  // The continuous or switchable controls of [sampling] and [engine], plus
  // tempo and the momentary actions. A CC value 0..127 is mapped onto each
  // control's range by the live engine.
  static const std::vector<std::string_view> kControls{"temperature",
                                                       "top_k",
                                                       "top_p",
                                                       "repetition_penalty",
                                                       "density",
                                                       "velocity_scale",
                                                       "pitch_min",
                                                       "pitch_max",
                                                       "key",
                                                       "scale",
                                                       "mode",
                                                       "fallback",
                                                       "gap_beats",
                                                       "response_beats",
                                                       "latency_budget_ms",
                                                       "tempo",
                                                       "mute",
                                                       "reset",
                                                       "panic"};
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
