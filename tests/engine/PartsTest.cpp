#include "engine/music/Parts.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "engine/music/MidiFile.h"

using namespace nextbeat::engine;

namespace {

Note note(int track, int channel, int pitch, double start) {
  Note n;
  n.track = track;
  n.channel = channel;
  n.pitch = pitch;
  n.start_beat = start;
  n.end_beat = start + 1;
  return n;
}

// A lead sheet: melody on track 1 (channel 1), chords on track 2 (channel 2), named.
Score lead_sheet() {
  Score score;
  score.source = "tune.mid";
  score.notes = {note(1, 0, 72, 0), note(2, 1, 48, 0), note(2, 1, 52, 0), note(1, 0, 74, 1)};
  score.track_names = {"", "Melody", "Chords"};
  score.sort_notes();
  return score;
}

std::vector<int> roles(const Score& score) {
  std::vector<int> out;
  for (const Note& n : score.notes) out.push_back(n.source);
  return out;
}

}  // namespace

TEST_CASE("parts: every written form of a part choice parses, and bad ones say what was expected") {
  CHECK(parse_part_choice("") == PartChoice{});
  CHECK(parse_part_choice("track:2") == PartChoice{PartChoice::By::kTrack, 2, {}});
  CHECK(parse_part_choice("3") == PartChoice{PartChoice::By::kTrack, 3, {}});
  CHECK(parse_part_choice("channel:10") == PartChoice{PartChoice::By::kChannel, 9, {}});
  CHECK(parse_part_choice("name: Lead ") == PartChoice{PartChoice::By::kName, 0, "Lead"});
  CHECK(parse_part_choice("Melody") == PartChoice{PartChoice::By::kName, 0, "Melody"});
  CHECK_THROWS_WITH(parse_part_choice("channel:17"), Catch::Contains("expected a MIDI channel 1..16"));
  CHECK_THROWS_WITH(parse_part_choice("track:x"), Catch::Contains("expected a track number"));
  CHECK_THROWS_WITH(parse_part_choice("name:"), Catch::Contains("expected a track name"));
  CHECK(describe(parse_part_choice("channel:10")) == "channel:10");
}

TEST_CASE("parts: the performer's part gets role 0 and every other note role 1, by track, channel or name") {
  Score score = lead_sheet();
  // Sorted by start then pitch: 48 (chords), 52 (chords), 72 (melody), 74 (melody).
  assign_roles(score, {});
  CHECK(roles(score) == std::vector<int>{1, 1, 0, 0});
  assign_roles(score, parse_part_choice("name:chords"));
  CHECK(roles(score) == std::vector<int>{0, 0, 1, 1});
  assign_roles(score, parse_part_choice("channel:1"));
  CHECK(roles(score) == std::vector<int>{1, 1, 0, 0});
  assign_roles(score, parse_part_choice("track:2"));
  CHECK(roles(score) == std::vector<int>{0, 0, 1, 1});
}

TEST_CASE("parts: a choice that matches no note names the file and lists its parts") {
  Score score = lead_sheet();
  CHECK_THROWS_WITH(assign_roles(score, parse_part_choice("name:Bass")),
                    Catch::Contains("tune.mid: no notes in the performer's part (name:Bass)") &&
                        Catch::Contains("track 1 \"Melody\" (channel 1): 2 notes") &&
                        Catch::Contains("track 2 \"Chords\" (channel 2): 2 notes"));
}

TEST_CASE("parts: track names survive a MIDI write and read") {
  const Score score = lead_sheet();
  const Score back = parse_midi(serialize_midi(score), "back.mid");
  REQUIRE(back.track_names.size() >= 3);
  CHECK(back.track_names[1] == "Melody");
  CHECK(back.track_names[2] == "Chords");
  Score named = back;
  assign_roles(named, parse_part_choice("Chords"));
  CHECK(roles(named) == std::vector<int>{0, 0, 1, 1});
}

TEST_CASE("parts: a track name with control bytes is read as printable text, at most 64 bytes") {
  Score score = lead_sheet();
  score.track_names[1] = std::string("Me\x01lody", 7) + std::string(100, 'x');
  const Score back = parse_midi(serialize_midi(score), "back.mid");
  REQUIRE(back.track_names.size() >= 2);
  CHECK(back.track_names[1].size() == 64);
  CHECK(back.track_names[1].starts_with("Me?lody"));
}
