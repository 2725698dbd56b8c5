// Numbers as text, in the two forms the project writes them. Header-only:
// config/ (messages, the TOML writer) and io/ (OSC refusals) share it.
#pragma once

#include <charconv>
#include <cstdio>
#include <string>

namespace nextbeat::config {

// For people, in messages and displays: "%g", six significant digits, so
// ranges read as written ("0.01..10", not "0.010000..10.000000") and a
// float32 OSC argument prints as it was sent ("0.1", not "0.10000000149").
inline std::string number_text(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

// For TOML files: the shortest text that reads back as the same double, with
// a '.' or an exponent so that TOML reads it as a float ("400.0", not "400").
inline std::string toml_float_text(double value) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  std::string out(buf, end);
  if (out.find_first_of(".eEn") == std::string::npos) out += ".0";
  return out;
}

}  // namespace nextbeat::config
