// libFuzzer entry point for the Standard MIDI File reader (and, on what it accepts, the writer).
// Built and run by scripts/fuzz.sh (clang, libclang-rt-14-dev); by hand:
//
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I. \
//       tests/fuzz/MidiFileFuzz.cpp engine/music/MidiFile.cpp engine/music/Score.cpp -o /tmp/midi-fuzz
//   mkdir -p /tmp/midi-corpus && cp ../shared/data/piano_performance/POP909_*.mid /tmp/midi-corpus/
//   /tmp/midi-fuzz /tmp/midi-corpus -max_total_time=60 -max_len=16384 -rss_limit_mb=1024
//
// Contract checked: parse_midi either returns a Score whose notes satisfy the Score invariants or throws
// MidiFileError; it never crashes, hangs or allocates without bound, and keeps to the caps of MidiFile.h. A Score it
// returns and that can be written comes back with the same notes through serialize_midi and parse_midi.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <tuple>
#include <vector>

#include "engine/music/MidiFile.h"

namespace {

using nextbeat::engine::Note;
using nextbeat::engine::Score;

std::vector<std::tuple<double, double, int, int, int>> note_keys(const Score& score) {
  std::vector<std::tuple<double, double, int, int, int>> keys;
  for (const Note& n : score.notes) keys.emplace_back(n.start_beat, n.end_beat, n.pitch, n.velocity, n.channel);
  std::sort(keys.begin(), keys.end());
  return keys;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Score score;
  try {
    score = nextbeat::engine::parse_midi(std::span<const std::uint8_t>(data, size), "fuzz.mid");
  } catch (const nextbeat::engine::MidiFileError&) {
    return 0;
  }
  // The caps of MidiFile.h: at most kMaxMidiNotes notes, none later than kMaxMidiBeats (and a tick).
  check(score.notes.size() <= nextbeat::engine::kMaxMidiNotes);
  for (const Note& n : score.notes) {
    check(n.pitch >= 0 && n.pitch <= 127 && n.velocity >= 1 && n.velocity <= 127 && n.channel >= 0 && n.channel <= 15 &&
          n.start_beat >= 0 && n.end_beat > n.start_beat &&
          n.end_beat <= static_cast<double>(nextbeat::engine::kMaxMidiBeats) + 1);
  }
  check(!score.tempo_map.empty() && score.tempo_map.front().beat == 0);
  check(!score.time_signatures.empty() && score.time_signatures.front().beat == 0);

  std::vector<std::uint8_t> written;
  try {
    written = nextbeat::engine::serialize_midi(score, score.ticks_per_beat);
  } catch (const nextbeat::engine::MidiFileError&) {
    return 0;  // e.g. a note later than the writer's largest tick
  }
  const Score again = nextbeat::engine::parse_midi(written, "again.mid");  // must not throw
  check(note_keys(again) == note_keys(score));
  check(again.tempo_map == score.tempo_map);
  check(again.time_signatures == score.time_signatures);
  return 0;
}
