#include "config/Schema.h"

#include "config/BundledModelNames.h"
#include "config/Controls.h"
#include "config/NumberText.h"

#include <arpa/inet.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <type_traits>

namespace nextbeat::config::detail {
namespace {

bool is_ip_address(std::string_view text) {
  const std::string s(text);
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

using StringCheck = bool (*)(std::string_view);

// Registers the fields of one section; S is that section's struct.
template <class S>
class SectionBuilder {
 public:
  SectionBuilder(std::vector<FieldSpec>& out, std::string_view name, S Config::*section)
      : out_(out), name_(name), section_(section) {}

  template <class T>
  SectionBuilder& integer(std::string_view key, T S::*member, T lo, T hi) {
    static_assert(std::is_integral_v<T>);
    std::string allowed = "an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
    return add(
        key, allowed,
        [=, sec = section_](const toml::node& node, Config& c) -> std::string {
          const auto* v = node.as_integer();
          if (v == nullptr) return "expected " + allowed + ", got " + describe_node(node);
          const std::int64_t x = v->get();
          if (x < lo || x > hi) return "expected " + allowed + ", got " + std::to_string(x);
          (c.*sec).*member = static_cast<T>(x);
          return {};
        },
        [sec = section_, member](const Config& c) { return std::to_string((c.*sec).*member); });
  }

  SectionBuilder& number(std::string_view key, double S::*member, double lo, double hi) {
    std::string allowed = "a number in " + number_text(lo) + ".." + number_text(hi);
    return add(
        key, allowed,
        [=, sec = section_](const toml::node& node, Config& c) -> std::string {
          if (!node.is_number()) return "expected " + allowed + ", got " + describe_node(node);
          const double x = node.value<double>().value_or(std::nan(""));
          if (!(x >= lo && x <= hi)) return "expected " + allowed + ", got " + describe_node(node);
          (c.*sec).*member = x;
          return {};
        },
        [sec = section_, member](const Config& c) { return toml_float_text((c.*sec).*member); });
  }

  SectionBuilder& boolean(std::string_view key, bool S::*member) {
    std::string allowed = "true or false";
    return add(
        key, allowed,
        [=, sec = section_](const toml::node& node, Config& c) -> std::string {
          const auto* v = node.as_boolean();
          if (v == nullptr) return "expected " + allowed + ", got " + describe_node(node);
          (c.*sec).*member = v->get();
          return {};
        },
        [sec = section_, member](const Config& c) { return std::string((c.*sec).*member ? "true" : "false"); });
  }

  template <class E>
  SectionBuilder& choice(std::string_view key, E S::*member) {
    std::string allowed = "one of " + enum_choices<E>();
    return add(
        key, allowed,
        [=, sec = section_](const toml::node& node, Config& c) -> std::string {
          const auto* v = node.as_string();
          const auto parsed = v != nullptr ? enum_from_name<E>(v->get()) : std::nullopt;
          if (!parsed) return "expected " + allowed + ", got " + describe_node(node);
          (c.*sec).*member = *parsed;
          return {};
        },
        [sec = section_, member](const Config& c) { return toml_quote(enum_name((c.*sec).*member)); });
  }

  // A key (tonic) written as its name, held as its pitch class (-1: none).
  SectionBuilder& key_name(std::string_view key, int S::*member) {
    std::string allowed = "\"\" (no constraint), \"auto\" (follow the performer) or a key name such as C, F#, Bb";
    return add(
        key, allowed,
        [=, sec = section_](const toml::node& node, Config& c) -> std::string {
          const auto* v = node.as_string();
          const auto pc = v == nullptr ? std::nullopt : v->get() == "auto" ? kKeyAuto : key_pitch_class(v->get());
          if (v == nullptr || (!v->get().empty() && !pc)) return "expected " + allowed + ", got " + describe_node(node);
          (c.*sec).*member = pc.value_or(-1);
          return {};
        },
        [sec = section_, member](const Config& c) { return toml_quote(config::key_name((c.*sec).*member)); });
  }

  SectionBuilder& string(std::string_view key, std::string S::*member, std::string allowed, StringCheck check) {
    return add(
        key, allowed,
        [=, sec = section_](const toml::node& node, Config& c) -> std::string {
          const auto* v = node.as_string();
          if (v == nullptr || (check != nullptr && !check(v->get())))
            return "expected " + allowed + ", got " + describe_node(node);
          (c.*sec).*member = v->get();
          return {};
        },
        [sec = section_, member](const Config& c) { return toml_quote((c.*sec).*member); });
  }

  SectionBuilder& string_list(std::string_view key, std::vector<std::string> S::*member, std::string allowed,
                              StringCheck check) {
    return add(
        key, allowed,
        [=, sec = section_](const toml::node& node, Config& c) -> std::string {
          const auto* arr = node.as_array();
          if (arr == nullptr) return "expected " + allowed + ", got " + describe_node(node);
          std::vector<std::string> items;
          for (std::size_t i = 0; i < arr->size(); ++i) {
            const auto* v = (*arr)[i].as_string();
            if (v == nullptr || (check != nullptr && !check(v->get())))
              return "expected " + allowed + ", got " + describe_node((*arr)[i]) + " as item " + std::to_string(i + 1);
            items.push_back(v->get());
          }
          (c.*sec).*member = std::move(items);
          return {};
        },
        [sec = section_, member](const Config& c) {
          std::string out = "[";
          for (const auto& item : (c.*sec).*member) out += (out.size() > 1 ? ", " : "") + toml_quote(item);
          return out + "]";
        });
  }

  SectionBuilder& int_list(std::string_view key, std::vector<int> S::*member, int lo, int hi) {
    std::string allowed = "a list of integers in " + std::to_string(lo) + ".." + std::to_string(hi);
    return add(
        key, allowed,
        [=, sec = section_](const toml::node& node, Config& c) -> std::string {
          const auto* arr = node.as_array();
          if (arr == nullptr) return "expected " + allowed + ", got " + describe_node(node);
          std::vector<int> items;
          for (std::size_t i = 0; i < arr->size(); ++i) {
            const auto* v = (*arr)[i].as_integer();
            if (v == nullptr || v->get() < lo || v->get() > hi)
              return "expected " + allowed + ", got " + describe_node((*arr)[i]) + " as item " + std::to_string(i + 1);
            items.push_back(static_cast<int>(v->get()));
          }
          (c.*sec).*member = std::move(items);
          return {};
        },
        [sec = section_, member](const Config& c) {
          std::string out = "[";
          for (int item : (c.*sec).*member) out += (out.size() > 1 ? ", " : "") + std::to_string(item);
          return out + "]";
        });
  }

  // A key that is also a live control: its range comes from the control's
  // row (config/Controls.cpp), the one place it is written.
  template <class T>
  SectionBuilder& control(std::string_view key, T S::*member) {
    const std::string config_key = std::string(name_) + "." + std::string(key);
    const ControlSpec* spec = find_control_by_key(config_key);
    if (spec == nullptr) throw std::logic_error(config_key + " is not a control in config/Controls.cpp");
    if constexpr (std::is_enum_v<T>) {
      return choice(key, member);
    } else if constexpr (std::is_floating_point_v<T>) {
      return number(key, member, spec->min, spec->max);
    } else {
      return integer(key, member, static_cast<T>(spec->min), static_cast<T>(spec->max));
    }
  }

 private:
  SectionBuilder& add(std::string_view key, std::string allowed,
                      std::function<std::string(const toml::node&, Config&)> apply,
                      std::function<std::string(const Config&)> to_toml) {
    out_.push_back(FieldSpec{name_, key, std::move(allowed), std::move(apply), std::move(to_toml)});
    return *this;
  }

  std::vector<FieldSpec>& out_;
  std::string_view name_;
  S Config::*section_;
};

std::vector<FieldSpec> build_schema() {
  std::vector<FieldSpec> f;
  SectionBuilder<ModelConfig>(f, "model", &Config::model)
      .string("path", &ModelConfig::path, "a model file path, or " + bundled_model_list(),
              [](std::string_view p) {
                if (p.empty()) return false;
                if (!p.starts_with("default:")) return true;
                return is_bundled_model(p);
              })
      .choice("device", &ModelConfig::device)
      .choice("precision", &ModelConfig::precision)
      .integer("threads", &ModelConfig::threads, 1, 64)
      .string_list("dirs", &ModelConfig::dirs, "a list of absolute directory paths",
                   [](std::string_view d) { return d.starts_with("/"); });

  SectionBuilder<MidiConfig>(f, "midi", &Config::midi)
      .choice("api", &MidiConfig::api)
      .string_list("inputs", &MidiConfig::inputs, "a list of non-empty port-name substrings (\"*\" = every input)",
                   [](std::string_view s) { return !s.empty(); })
      .int_list("input_channels", &MidiConfig::input_channels, 1, 16)
      .string("virtual_input", &MidiConfig::virtual_input, "a non-empty port name",
              [](std::string_view s) { return !s.empty(); })
      .string("output", &MidiConfig::output, "a port-name substring, or \"\" for the virtual port \"nextbeat out\"",
              nullptr)
      .control("channel", &MidiConfig::channel)
      .control("split_note", &MidiConfig::split_note);

  SectionBuilder<OscConfig>(f, "osc", &Config::osc)
      .boolean("enabled", &OscConfig::enabled)
      .string("bind", &OscConfig::bind, "an IP address such as 127.0.0.1, 0.0.0.0 or ::1", is_ip_address)
      .integer("port", &OscConfig::port, 1, 65535)
      .string("reply_host", &OscConfig::reply_host, "a host name or IP address without spaces",
              [](std::string_view s) { return !s.empty() && s.find_first_of(" \t") == std::string_view::npos; })
      .integer("reply_port", &OscConfig::reply_port, 1, 65535)
      .string_list("allow", &OscConfig::allow, "a list of IP addresses such as \"127.0.0.1\"", is_ip_address);

  SectionBuilder<AudioConfig>(f, "audio", &Config::audio)
      .boolean("enabled", &AudioConfig::enabled)
      .choice("api", &AudioConfig::api)
      .string("device", &AudioConfig::device, "a device-name substring, or \"\" for the default output", nullptr)
      .integer("sample_rate", &AudioConfig::sample_rate, 8000, 192000)
      .integer("buffer_frames", &AudioConfig::buffer_frames, 16, 8192)
      .string("soundfont", &AudioConfig::soundfont, "a path to a .sf2 or .sf3 soundfont",
              [](std::string_view s) { return !s.empty(); })
      .control("program", &AudioConfig::program)
      .number("gain", &AudioConfig::gain, 0.0, 10.0);

  SectionBuilder<ClockConfig>(f, "clock", &Config::clock)
      .choice("source", &ClockConfig::source)
      .control("tempo_bpm", &ClockConfig::tempo_bpm)
      .integer("beats_per_bar", &ClockConfig::beats_per_bar, 1, 16)
      .boolean("send_midi_clock", &ClockConfig::send_midi_clock)
      .boolean("link_start_stop", &ClockConfig::link_start_stop)
      .number("link_latency_ms", &ClockConfig::link_latency_ms, 0.0, 1000.0);

  SectionBuilder<EngineConfig>(f, "engine", &Config::engine)
      .control("mode", &EngineConfig::mode)
      .control("latency_budget_ms", &EngineConfig::latency_budget_ms)
      .control("context_beats", &EngineConfig::context_beats)
      .control("gap_beats", &EngineConfig::gap_beats)
      .control("response_beats", &EngineConfig::response_beats)
      .control("fallback", &EngineConfig::fallback)
      .control("max_note_beats", &EngineConfig::max_note_beats)
      .control("max_voices", &EngineConfig::max_voices)
      .control("quantize", &EngineConfig::quantize);

  SectionBuilder<SamplingConfig>(f, "sampling", &Config::sampling)
      .control("temperature", &SamplingConfig::temperature)
      .control("top_k", &SamplingConfig::top_k)
      .control("top_p", &SamplingConfig::top_p)
      .key_name("key", &SamplingConfig::key)
      .control("scale", &SamplingConfig::scale)
      .control("repetition_penalty", &SamplingConfig::repetition_penalty)
      .control("density", &SamplingConfig::density)
      .control("velocity_scale", &SamplingConfig::velocity_scale)
      .control("pitch_min", &SamplingConfig::pitch_min)
      .control("pitch_max", &SamplingConfig::pitch_max)
      .control("seed", &SamplingConfig::seed)
      .control("chord_follow", &SamplingConfig::chord_follow);

  SectionBuilder<SessionConfig>(f, "session", &Config::session)
      .boolean("record", &SessionConfig::record)
      .string("record_dir", &SessionConfig::record_dir,
              "an absolute directory path, or \"\" for $STATE_DIRECTORY/takes (~/.local/state/nextbeat/takes)",
              [](std::string_view d) { return d.empty() || d.starts_with("/"); });

  SectionBuilder<LogConfig>(f, "log", &Config::log).choice("level", &LogConfig::level);
  return f;
}

}  // namespace

const std::vector<FieldSpec>& schema() {
  static const std::vector<FieldSpec> kSchema = build_schema();
  return kSchema;
}

const std::vector<std::string_view>& section_names() {
  static const std::vector<std::string_view> kSections{"model",  "midi",     "osc", "audio",   "clock",
                                                       "engine", "sampling", "cc",  "session", "log"};
  return kSections;
}

std::vector<ConfigIssue> cross_field_issues(const Config& config,
                                            const std::function<bool(std::string_view)>& was_set) {
  std::vector<ConfigIssue> issues;
  const auto& s = config.sampling;
  if (s.pitch_min > s.pitch_max) {
    issues.push_back({.key = was_set("sampling.pitch_max") ? "sampling.pitch_max" : "sampling.pitch_min",
                      .message = "pitch_max (" + std::to_string(s.pitch_max) + ") must not be below pitch_min (" +
                                 std::to_string(s.pitch_min) + ")"});
  }
  std::error_code ec;
  if (config.audio.enabled && !std::filesystem::is_regular_file(config.audio.soundfont, ec)) {
    issues.push_back({.key = "audio.soundfont",
                      .message = "audio is enabled but the soundfont \"" + config.audio.soundfont +
                                 "\" is not a readable file (Debian: apt-get install fluid-soundfont-gm)"});
  }
  return issues;
}

std::string toml_quote(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(ch)));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string describe_node(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "the string " + toml_quote(node.as_string()->get());
    case toml::node_type::integer:
      return std::to_string(node.as_integer()->get());
    case toml::node_type::floating_point:
      return toml_float_text(node.as_floating_point()->get());
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

}  // namespace nextbeat::config::detail
