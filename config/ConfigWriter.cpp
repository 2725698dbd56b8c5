#include "config/ConfigWriter.h"

#include <vector>

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

namespace nextbeat::config {

std::string with_cc_bindings(std::string_view text, const CcMap& bindings) {
  std::string table = "[cc]\n";
  for (const auto& [control, cc] : bindings) table += control + " = " + std::to_string(cc) + "\n";
  // Split into lines; find "[cc]" (a table header line) and the next header.
  std::vector<std::string_view> lines;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = text.find('\n', at);
    const std::size_t stop = end == std::string_view::npos ? text.size() : end + 1;
    lines.push_back(text.substr(at, stop - at));
    at = stop;
  }
  const auto header = [](std::string_view line) {
    const auto first = line.find_first_not_of(" \t");
    return first != std::string_view::npos && line[first] == '[';
  };
  const auto is_cc = [&](std::string_view line) {
    if (!header(line)) return false;
    std::string compact;
    for (char c : line.substr(0, line.find('#')))
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') compact += c;
    return compact == "[cc]";
  };
  std::string out;
  bool written = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!is_cc(lines[i])) {
      out += lines[i];
      continue;
    }
    // Skip the old table's lines up to the next table header, keeping the
    // comment on the header line out (the new table has none).
    std::size_t j = i + 1;
    while (j < lines.size() && !header(lines[j])) ++j;
    out += table;
    if (j < lines.size()) out += "\n";
    written = true;
    i = j - 1;
  }
  if (!written) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += "\n" + table;
  }
  return out;
}

}  // namespace nextbeat::config
