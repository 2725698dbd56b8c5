#include "config/ConfigLoader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/Schema.h"
#include "engine/util/InputFile.h"

namespace nextbeat::config {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

namespace {

constexpr std::string_view kCcAllowed = "a MIDI CC number in 0..119, or -1 to unbind a default";

// The candidate nearest to word, if it is near enough to be a typo.
template <class Range>
std::string_view closest(std::string_view word, const Range& candidates) {
  std::string_view best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (std::string_view c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::string join(const std::vector<std::string_view>& items) {
  std::string out;
  for (auto item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::vector<std::string_view> keys_of(std::string_view section) {
  std::vector<std::string_view> keys;
  for (const auto& f : detail::schema())
    if (f.section == section) keys.push_back(f.key);
  return keys;
}

// toml++ iterates a table in key order; people read a file top to bottom, so
// issues (and which of two [cc] bindings came second) follow the document.
std::vector<std::pair<const toml::key*, const toml::node*>> in_document_order(const toml::table& table) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [key, node] : table) entries.emplace_back(&key, &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const auto& pa = a.first->source().begin;
    const auto& pb = b.first->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });
  return entries;
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return std::string(s.substr(first, last - first + 1));
}

// Applies TOML documents and overrides onto one Config, collecting issues.
class Loader {
 public:
  explicit Loader(Config& config) : config_(config) {}

  void apply_document(const toml::table& doc, std::string source, bool with_positions) {
    source_ = std::move(source);
    with_positions_ = with_positions;
    for (const auto& [name_ptr, node_ptr] : in_document_order(doc)) {
      const toml::key& name = *name_ptr;
      const toml::node& node = *node_ptr;
      const std::string_view section = name.str();
      const auto& sections = detail::section_names();
      if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
        report(name.source(), std::string(section), unknown_section_message(section));
        continue;
      }
      const auto* table = node.as_table();
      if (table == nullptr) {
        report(node.source(), std::string(section),
               "expected a table ([" + std::string(section) + "]), got " + detail::describe_node(node));
        continue;
      }
      if (section == "cc") {
        apply_cc(*table);
      } else {
        apply_section(section, *table);
      }
    }
  }

  void apply_override(const std::string& text) {
    source_ = "-o " + text;
    with_positions_ = false;
    const auto eq = text.find('=');
    const std::string path = trim(std::string_view(text).substr(0, eq));
    const auto dot = path.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot == 0 || dot + 1 == path.size()) {
      report({}, "", "expected section.key=value, e.g. -o sampling.temperature=0.8");
      return;
    }
    const std::string value = trim(std::string_view(text).substr(eq + 1));
    const std::string head =
        "[" + detail::toml_quote(path.substr(0, dot)) + "]\n" + detail::toml_quote(path.substr(dot + 1)) + " = ";
    toml::table doc;
    try {
      if (value.find('\n') != std::string::npos) throw toml::parse_error("newline in value", toml::source_position{});
      doc = toml::parse(head + value);
    } catch (const toml::parse_error& e) {
      // A bare word is taken as a string, so that -o midi.output=Keystation
      // works without shell-quoted TOML quotes; anything that looks like
      // TOML (quotes, arrays, tables) must parse as TOML.
      if (value.empty() || std::string_view("\"'[{").find(value.front()) != std::string_view::npos) {
        report({}, path, "the value is not valid TOML: " + std::string(e.description()));
        return;
      }
      doc = toml::parse(head + detail::toml_quote(value));
    }
    apply_document(doc, source_, false);
  }

  void check_cross_fields() {
    const auto was_set = [this](std::string_view key) { return set_at_.contains(key); };
    for (auto& issue : detail::cross_field_issues(config_, was_set)) {
      const auto it = set_at_.find(issue.key);
      if (it != set_at_.end()) {
        issue.source = it->second.source;
        issue.line = it->second.line;
        issue.column = it->second.column;
      } else {
        issue.source = first_source_;
      }
      issues_.push_back(std::move(issue));
    }
  }

  std::vector<ConfigIssue>& issues() { return issues_; }

  void set_first_source(std::string source) { first_source_ = std::move(source); }

 private:
  struct Location {
    std::string source;
    int line = 0;
    int column = 0;
  };

  void apply_section(std::string_view section, const toml::table& table) {
    for (const auto& [name_ptr, node_ptr] : in_document_order(table)) {
      const toml::key& name = *name_ptr;
      const toml::node& node = *node_ptr;
      const std::string_view key = name.str();
      const std::string path = std::string(section) + "." + std::string(key);
      const auto& fields = detail::schema();
      const auto field = std::find_if(fields.begin(), fields.end(),
                                      [&](const auto& f) { return f.section == section && f.key == key; });
      if (field == fields.end()) {
        report(name.source(), path, unknown_key_message(section, key));
        continue;
      }
      const std::string error = field->apply(node, config_);
      if (!error.empty()) {
        report(node.source(), path, error);
      } else {
        remember(path, node.source());
      }
    }
  }

  void apply_cc(const toml::table& table) {
    const auto& controls = cc_controls();
    for (const auto& [name_ptr, node_ptr] : in_document_order(table)) {
      const toml::key& name = *name_ptr;
      const toml::node& node = *node_ptr;
      const std::string control(name.str());
      const std::string path = "cc." + control;
      if (std::find(controls.begin(), controls.end(), control) == controls.end()) {
        std::string message = "unknown control '" + control + "'";
        if (const auto near = closest(control, controls); !near.empty())
          message += "; did you mean '" + std::string(near) + "'?";
        report(name.source(), path, message + " (controls: " + join(controls) + ")");
        continue;
      }
      const auto* v = node.as_integer();
      if (v == nullptr || v->get() < -1 || v->get() > 119) {
        report(node.source(), path, "expected " + std::string(kCcAllowed) + ", got " + detail::describe_node(node));
        continue;
      }
      const int number = static_cast<int>(v->get());
      if (number == -1) {
        config_.cc.erase(control);
        user_cc_.insert(control);
        remember(path, node.source());
        continue;
      }
      // A binding the user made wins over a default on the same CC number; two
      // bindings the user made on one number are an error.
      bool conflict = false;
      for (auto it = config_.cc.begin(); it != config_.cc.end();) {
        if (it->second == number && it->first != control) {
          if (user_cc_.contains(it->first)) {
            report(node.source(), path, "CC " + std::to_string(number) + " is already bound to '" + it->first + "'");
            conflict = true;
            break;
          }
          it = config_.cc.erase(it);
        } else {
          ++it;
        }
      }
      if (conflict) continue;
      config_.cc[control] = number;
      user_cc_.insert(control);
      remember(path, node.source());
    }
  }

  std::string unknown_section_message(std::string_view section) const {
    std::string message = "unknown section '" + std::string(section) + "'";
    if (const auto near = closest(section, detail::section_names()); !near.empty())
      return message + "; did you mean [" + std::string(near) + "]?";
    for (const auto& f : detail::schema()) {
      if (f.key == section)
        return message + ": keys belong inside a section; did you mean [" + std::string(f.section) + "] " +
               std::string(f.key) + "?";
    }
    return message + " (sections: " + join(detail::section_names()) + ")";
  }

  static std::string unknown_key_message(std::string_view section, std::string_view key) {
    std::string message = "unknown key '" + std::string(key) + "' in [" + std::string(section) + "]";
    const auto keys = keys_of(section);
    if (const auto near = closest(key, keys); !near.empty())
      return message + "; did you mean '" + std::string(near) + "'?";
    for (const auto& f : detail::schema()) {
      if (f.key == key) return message + "; '" + std::string(key) + "' belongs in [" + std::string(f.section) + "]";
    }
    return message + " (keys: " + join(keys) + ")";
  }

  void report(const toml::source_region& where, std::string key, std::string message) {
    ConfigIssue issue{.source = source_, .key = std::move(key), .message = std::move(message)};
    if (with_positions_) {
      issue.line = static_cast<int>(where.begin.line);
      issue.column = static_cast<int>(where.begin.column);
    }
    issues_.push_back(std::move(issue));
  }

  void remember(const std::string& path, const toml::source_region& where) {
    Location location{source_};
    if (with_positions_) {
      location.line = static_cast<int>(where.begin.line);
      location.column = static_cast<int>(where.begin.column);
    }
    set_at_[path] = std::move(location);
  }

  Config& config_;
  std::string source_;
  std::string first_source_;
  bool with_positions_ = true;
  std::vector<ConfigIssue> issues_;
  std::map<std::string, Location, std::less<>> set_at_;  // where each key was last set
  std::set<std::string, std::less<>> user_cc_;           // [cc] controls set by the user
};

// The key a line of the text defines: "section.key" for a key = value line,
// the table's name for a [header] line, "" for anything else. toml++ stops
// at a syntax error before it knows the key, so the error reads it here.
std::string key_on_line(std::string_view text, std::size_t line) {
  const auto trim = [](std::string_view v) {
    const auto first = v.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return std::string_view{};
    return v.substr(first, v.find_last_not_of(" \t\r") - first + 1);
  };
  std::string section;
  std::size_t at = 0;
  for (std::size_t n = 1; n <= line && at <= text.size(); ++n) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view l = trim(text.substr(at, end - at));
    at = end + 1;
    if (l.starts_with('[')) {
      // "[", "[[x" and "[]" are syntax errors too: name what there is, never read past it.
      const auto open = std::min(l.find_first_not_of('['), l.size());
      const auto close = std::max(open, std::min(l.find(']', open), l.size()));
      const std::string name(trim(l.substr(open, close - open)));
      if (n == line) return name;
      section = name;
    } else if (n == line) {
      const auto name_end = l.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
      if (name_end == 0 || name_end == std::string_view::npos) return "";
      if (!trim(l.substr(name_end)).starts_with('=')) return "";
      const std::string key(l.substr(0, name_end));
      return section.empty() ? key : section + "." + key;
    }
  }
  return "";
}

}  // namespace

toml::table detail::parse_document(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError({{.source = source,
                        .line = static_cast<int>(e.source().begin.line),
                        .column = static_cast<int>(e.source().begin.column),
                        .key = key_on_line(text, e.source().begin.line),
                        .message = std::string(e.description())}});
  }
}

Config load_config_string(std::string_view toml_text, std::string_view source_name,
                          std::span<const std::string> overrides) {
  Config config;
  Loader loader(config);
  const std::string source(source_name);
  loader.set_first_source(source);
  const toml::table doc = detail::parse_document(toml_text, source);
  loader.apply_document(doc, source, true);
  for (const auto& o : overrides) loader.apply_override(o);
  loader.check_cross_fields();
  if (!loader.issues().empty()) throw ConfigError(std::move(loader.issues()));
  return config;
}

Config load_config_file(const std::filesystem::path& path, std::span<const std::string> overrides) {
  std::string text;
  try {
    text = engine::read_input_text(path, kMaxConfigFileBytes, "a config file");
  } catch (const engine::InputFileError& e) {
    // e.what() starts with the path; the issue's source is the path too.
    std::string what = e.what();
    if (what.starts_with(path.string() + ": ")) what.erase(0, path.string().size() + 2);
    throw ConfigError({{.source = path.string(), .message = "cannot read the config: " + what}});
  }
  return load_config_string(text, path.string(), overrides);
}

Config default_config(std::span<const std::string> overrides) {
  return load_config_string("", "<defaults>", overrides);
}

}  // namespace nextbeat::config
