#include "config/ConfigWriter.h"

#include <algorithm>
#include <system_error>
#include <vector>

#include <toml++/toml.h>

#include "config/ConfigLoader.h"
#include "config/Schema.h"
#include "engine/util/AtomicFile.h"
#include "engine/util/InputFile.h"

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
namespace {

// The lines (1-based, inclusive) that define a key and its value.
struct LineSpan {
  std::size_t first = 0;
  std::size_t last = 0;
};

LineSpan span_of(const toml::key& key, const toml::node& value) {
  return {key.source().begin.line, std::max(key.source().begin.line, value.source().end.line)};
}

// "[cc]" as new lines: every binding, and -1 for a default binding that is
// gone, so that the file loads back to exactly `bindings`.
std::string binding_lines(const CcMap& bindings) {
  std::string out;
  for (const auto& [control, cc] : bindings) out += control + " = " + std::to_string(cc) + "\n";
  for (const auto& [control, cc] : Config{}.cc)
    if (!bindings.contains(control)) out += control + " = -1\n";
  return out;
}

// The same issues, each message saying first why nothing was written.
ConfigError not_written(const ConfigError& e, const std::string& why) {
  std::vector<ConfigIssue> issues = e.issues();
  for (auto& issue : issues) issue.message = why + issue.message;
  return ConfigError(std::move(issues));
}

}  // namespace

std::string with_cc_bindings(std::string_view text, const CcMap& bindings, const std::string& source) {
  // Where the cc table is defined, from the parsed document, not from the
  // text's look: a "[cc]" inside a multi-line string is not a header, and the
  // table may be written ["cc"], as dotted keys cc.x = 1 or inline.
  toml::table doc;
  try {
    doc = detail::parse_document(text, source);
  } catch (const ConfigError& e) {
    throw not_written(e, "the file does not parse any more, so MIDI-learn bindings were not written: ");
  }
  std::vector<std::string_view> lines;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = text.find('\n', at);
    const std::size_t stop = end == std::string_view::npos ? text.size() : end + 1;
    lines.push_back(text.substr(at, stop - at));
    at = stop;
  }
  std::vector<LineSpan> dropped;
  std::size_t header_line = 0;  // the "[cc]" line to write under; 0: append a new table
  for (const auto& [key, node] : doc) {
    if (key.str() != "cc") continue;
    const auto* table = node.as_table();
    if (table == nullptr || table->is_inline()) {
      dropped.push_back(span_of(key, node));
      continue;
    }
    for (const auto& [control, value] : *table) dropped.push_back(span_of(control, value));
    const std::size_t line = table->source().begin.line;
    if (line >= 1 && line <= lines.size()) {
      const auto first = lines[line - 1].find_first_not_of(" \t");
      if (first != std::string_view::npos && lines[line - 1][first] == '[') header_line = line;
    }
  }
  const auto is_dropped = [&](std::size_t line) {
    return std::any_of(dropped.begin(), dropped.end(),
                       [&](const LineSpan& s) { return line >= s.first && line <= s.last; });
  };
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (is_dropped(i + 1)) continue;
    out += lines[i];
    if (i + 1 == header_line) {
      if (out.back() != '\n') out += '\n';
      out += binding_lines(bindings);
    }
  }
  if (header_line == 0) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += "\n[cc]\n" + binding_lines(bindings);
  }
  // Whatever the edit, the file must load back, to these bindings: otherwise
  // the next start would refuse it (and systemd would loop on the refusal).
  Config loaded;
  try {
    loaded = load_config_string(out, source);
  } catch (const ConfigError& e) {
    throw not_written(e, "the file would not load after writing [cc], so it was not written: ");
  }
  if (loaded.cc != bindings)
    throw ConfigError({{.source = source,
                        .key = "cc",
                        .message = "the file would not load back to the learned bindings, so it was not written"}});
  return out;
}

void save_cc_bindings(const std::filesystem::path& path, const CcMap& bindings) {
  // A symlinked config stays a symlink: the file it points to is replaced.
  std::error_code ec;
  const std::filesystem::path target = std::filesystem::canonical(path, ec);
  if (ec)
    throw ConfigError({{.source = path.string(),
                        .message = "the config file is gone (" + ec.message() +
                                   "): MIDI-learn bindings were not written; restore the file and save again"}});
  std::string text;
  try {
    text = engine::read_input_text(target, kMaxConfigFileBytes, "a config file");
  } catch (const engine::InputFileError& e) {
    throw ConfigError(
        {{.source = path.string(), .message = std::string("cannot read the config to update it: ") + e.what()}});
  }
  const std::string updated = with_cc_bindings(text, bindings, path.string());
  try {
    engine::write_text_file_atomically(target, updated);
  } catch (const std::system_error& e) {
    throw ConfigError({{.source = path.string(), .message = std::string(e.what()) + "; the file is unchanged"}});
  }
}

}  // namespace nextbeat::config
