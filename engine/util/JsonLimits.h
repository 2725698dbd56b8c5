// Bounds on JSON read from outside (model headers, piano-roll files).
// nlohmann's parser is iterative, but copying, comparing and dumping a value
// recurse once per level: a header nested 100,000 arrays deep parses, then
// overflows the stack the first time it is copied. So the nesting is checked
// on the text, before parsing.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace nextbeat::engine {

// Deeper than anything nextbeat writes (a model header is 4 levels deep).
constexpr int kMaxJsonDepth = 64;

// The byte offset of the first '[' or '{' that opens a level deeper than
// max_depth, outside strings; nullopt when the text stays within it. Linear,
// no allocation; does not validate the JSON otherwise.
std::optional<std::size_t> json_too_deep_at(std::string_view text, int max_depth = kMaxJsonDepth) noexcept;

}  // namespace nextbeat::engine
