// libFuzzer target: what ABC import reads besides the MIDI files abc2midi writes (those go through parse_midi,
// fuzzed by MidiFileFuzz.cpp): the tune index of the ABC text (find_abc_tunes) and abc2midi's log, searched for
// each tune's errors (abc2midi_errors_of). See engine/music/AbcImport.h. Built and run by scripts/fuzz.sh.
//
// Input: the ABC text, then a NUL byte, then the log (no NUL: the log is empty).
// Contract checked: find_abc_tunes returns tunes in line order or throws AbcImportError; abc2midi_errors_of
// never throws; nothing crashes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/music/AbcImport.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace nextbeat::engine;
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = all.find('\0');
  const std::string text(all.substr(0, nul));
  const std::string log(nul == std::string_view::npos ? std::string_view() : all.substr(nul + 1));
  try {
    const auto tunes = detail::find_abc_tunes(text, "fuzz.abc");
    std::size_t previous = 0;
    for (const auto& tune : tunes) {
      if (tune.first_line <= previous || tune.last_line < tune.first_line) __builtin_trap();
      previous = tune.first_line;
      (void)detail::abc2midi_errors_of(tune, log);
    }
  } catch (const AbcImportError&) {
  }
  return 0;
}
