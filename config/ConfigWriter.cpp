#include "config/ConfigWriter.h"

#include "config/Schema.h"

namespace nextbeat::config {
namespace {

void append_line(std::string& out, const std::string& assignment, std::string_view comment) {
  constexpr std::size_t kCommentColumn = 40;
  out += assignment;
  if (!comment.empty()) {
    out.append(assignment.size() < kCommentColumn ? kCommentColumn - assignment.size() : 1, ' ');
    out += "# ";
    out += comment;
  }
  out += '\n';
}

}  // namespace

std::string to_toml(const Config& config) {
  std::string out = "# nextbeat effective configuration: every key, defaults filled in\n";
  for (const auto section : detail::section_names()) {
    out += "\n[";
    out += section;
    out += "]\n";
    if (section == "cc") {
      out += "# control = MIDI CC number 0..119 (-1 unbinds a default)\n";
      for (const auto& [control, number] : config.cc) append_line(out, control + " = " + std::to_string(number), "");
      continue;
    }
    for (const auto& field : detail::schema()) {
      if (field.section != section) continue;
      append_line(out, std::string(field.key) + " = " + field.to_toml(config), field.allowed);
    }
  }
  return out;
}

}  // namespace nextbeat::config
