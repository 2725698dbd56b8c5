// libFuzzer target: piano-roll JSON (engine/music/PianoRollData.h parse_pianoroll_json), the format of the
// training data in ../shared/data. Built and run by scripts/fuzz.sh.
//
// Contract checked: parse_pianoroll_json returns splits or throws PianoRollDataError; it never crashes and
// every step it returns sits inside its beat and bar. The first byte picks the steps per beat (1..8) and
// whether the name says "Separated" (the SATB format), so both readings are fuzzed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/music/PianoRollData.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int steps_per_beat = 1 + (data[0] & 7);
  const std::string name = (data[0] & 8) ? "fuzz-Separated.json" : "fuzz.json";
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const auto splits = nextbeat::engine::parse_pianoroll_json(text, name, steps_per_beat);
    for (const auto& [split, sequences] : splits) {
      for (const auto& sequence : sequences) {
        for (const auto& step : sequence.steps) {
          if (step.beat_tick >= steps_per_beat || step.bar_beat >= 4) __builtin_trap();
        }
      }
    }
  } catch (const nextbeat::engine::PianoRollDataError&) {
  }
  return 0;
}
