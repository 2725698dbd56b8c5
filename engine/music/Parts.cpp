#include "engine/music/Parts.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>
#include <set>

namespace nextbeat::engine {
namespace {

std::optional<int> whole_number(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

bool same_name(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

constexpr int kMaxTrack = 65535;

PartChoice track_choice(std::string_view digits, std::string_view text) {
  const auto n = whole_number(digits);
  if (!n || *n < 0 || *n > kMaxTrack) {
    throw std::invalid_argument("part \"" + std::string(text) + "\": expected a track number 0.." +
                                std::to_string(kMaxTrack));
  }
  return {PartChoice::By::kTrack, *n, {}};
}

}  // namespace

PartChoice parse_part_choice(std::string_view text) {
  const std::string_view t = trimmed(text);
  if (t.empty()) return {};
  if (t.starts_with("track:")) return track_choice(t.substr(6), text);
  if (t.starts_with("channel:")) {
    const auto n = whole_number(t.substr(8));
    if (!n || *n < 1 || *n > 16) {
      throw std::invalid_argument("part \"" + std::string(text) + "\": expected a MIDI channel 1..16");
    }
    return {PartChoice::By::kChannel, *n - 1, {}};
  }
  if (t.starts_with("name:")) {
    const std::string_view name = trimmed(t.substr(5));
    if (name.empty()) throw std::invalid_argument("part \"" + std::string(text) + "\": expected a track name");
    return {PartChoice::By::kName, 0, std::string(name)};
  }
  if (!t.empty() && std::isdigit(static_cast<unsigned char>(t.front()))) return track_choice(t, text);
  return {PartChoice::By::kName, 0, std::string(t)};
}

std::string describe(const PartChoice& choice) {
  switch (choice.by) {
    case PartChoice::By::kFirst:
      return "the first track with notes";
    case PartChoice::By::kTrack:
      return "track:" + std::to_string(choice.number);
    case PartChoice::By::kChannel:
      return "channel:" + std::to_string(choice.number + 1);
    case PartChoice::By::kName:
      return "name:" + choice.name;
  }
  return {};
}

PartMatcher::PartMatcher(const Score& score, const PartChoice& choice) : choice_(choice) {
  for (const Note& note : score.notes) {
    if (first_track_ < 0 || note.track < first_track_) first_track_ = note.track;
  }
  if (choice.by == PartChoice::By::kName) {
    for (std::size_t t = 0; t < score.track_names.size(); ++t) {
      if (same_name(score.track_names[t], choice.name)) {
        named_track_ = static_cast<int>(t);
        break;
      }
    }
  }
}

bool PartMatcher::operator()(const Note& note) const {
  switch (choice_.by) {
    case PartChoice::By::kFirst:
      return note.track == first_track_;
    case PartChoice::By::kTrack:
      return note.track == choice_.number;
    case PartChoice::By::kChannel:
      return note.channel == choice_.number;
    case PartChoice::By::kName:
      return named_track_ >= 0 && note.track == named_track_;
  }
  return false;
}

void assign_roles(Score& score, const PartChoice& choice) {
  const PartMatcher performer(score, choice);
  std::size_t matched = 0;
  for (Note& note : score.notes) {
    const bool mine = performer(note);
    note.source = mine ? kPerformerRole : kAccompanimentRole;
    matched += mine ? 1 : 0;
  }
  if (matched == 0) {
    throw PartError(score.source + ": no notes in the performer's part (" + describe(choice) + "); the file has:" +
                    (score.notes.empty() ? std::string(" no notes") : "\n" + describe_parts(score)));
  }
}

std::string describe_parts(const Score& score) {
  struct Part {
    std::set<int> channels;
    std::size_t notes = 0;
  };
  std::map<int, Part> parts;
  for (const Note& note : score.notes) {
    Part& part = parts[note.track];
    part.channels.insert(note.channel + 1);
    ++part.notes;
  }
  constexpr std::size_t kMaxListed = 32;  // a hostile file may have thousands of tracks
  std::string text;
  std::size_t listed = 0;
  for (const auto& [track, part] : parts) {
    if (listed++ == kMaxListed) {
      text += "\n  and " + std::to_string(parts.size() - kMaxListed) + " more tracks";
      break;
    }
    if (!text.empty()) text += '\n';
    text += "  track " + std::to_string(track);
    const auto t = static_cast<std::size_t>(track);
    if (t < score.track_names.size() && !score.track_names[t].empty()) text += " \"" + score.track_names[t] + "\"";
    text += part.channels.size() == 1 ? " (channel " : " (channels ";
    bool first = true;
    for (const int ch : part.channels) {
      text += (first ? "" : ", ") + std::to_string(ch);
      first = false;
    }
    text += "): " + std::to_string(part.notes) + (part.notes == 1 ? " note" : " notes");
  }
  return text;
}

}  // namespace nextbeat::engine
