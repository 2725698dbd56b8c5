// Which part of a multi-part score is the performer's: the roles a model is
// trained with (engine/offline/Dataset.h) and the part `nextbeat jam` plays
// as the performer. Roles live in Note::source: 0 = the performer, 1 =
// nextbeat's part (everything else).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "engine/music/Score.h"

namespace nextbeat::engine {

inline constexpr std::uint8_t kPerformerRole = 0;
inline constexpr std::uint8_t kAccompanimentRole = 1;

class PartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How the performer's part is named:
//   ""            the first track that has notes (the melody of a lead sheet, the soprano of a chorale)
//   "track:N"     Note::track N (the MTrk chunk, counted from 0)
//   "channel:N"   MIDI channel N, 1..16
//   "name:TEXT"   the track named TEXT (case-insensitive)
//   "N"           track N;  any other text: the track named so
struct PartChoice {
  enum class By : std::uint8_t { kFirst, kTrack, kChannel, kName };
  By by = By::kFirst;
  int number = 0;  // kTrack: the track; kChannel: 0..15
  std::string name;
  bool operator==(const PartChoice&) const = default;
};

// Throws std::invalid_argument saying what was expected.
PartChoice parse_part_choice(std::string_view text);
// The choice as the user would write it ("track:2", "channel:10", "name:Chords", "first track with notes").
std::string describe(const PartChoice& choice);

// Whether `note` belongs to the chosen part of `score` (kFirst: the lowest
// Note::track among the score's notes).
class PartMatcher {
 public:
  PartMatcher(const Score& score, const PartChoice& choice);
  bool operator()(const Note& note) const;

 private:
  PartChoice choice_;
  int first_track_ = -1;
  int named_track_ = -1;
};

// Note::source = kPerformerRole for the chosen part's notes, kAccompanimentRole
// for every other note. Throws PartError naming the score, the choice and the
// parts it has, when no note matches.
void assign_roles(Score& score, const PartChoice& choice);

// One line per part, for messages: "track 1 \"Soprano\" (channel 1): 120 notes".
std::string describe_parts(const Score& score);

}  // namespace nextbeat::engine
