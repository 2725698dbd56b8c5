// ABC tunes to Scores, through the abc2midi program (Debian package abcmidi) and our MIDI reader.
#pragma once

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/music/Score.h"

namespace nextbeat::engine {

class AbcImportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AbcImportOptions {
  std::string abc2midi = "abc2midi";  // a program name looked up on PATH, or a path
  int timeout_s = 60;                 // abc2midi is killed after this long (a whole file, all its tunes)
};

// Converts every tune of an .abc file (one per X: field) with one run of abc2midi into a private temporary
// directory, which is removed afterwards, and reads the MIDI files it writes. Returns one Score per tune, in
// file order, with Score::source = "<path> tune <X>".
// abc2midi runs with an argv array (no shell), stdin from /dev/null and a time limit.
// Throws AbcImportError when the file cannot be read or holds no tune, when abc2midi is missing ("install the
// Debian package abcmidi"), fails or times out, when a tune gives no MIDI file (the message quotes abc2midi's
// errors for that tune), or when two tunes share an X: number (abc2midi would write one over the other).
std::vector<Score> import_abc_file(const std::filesystem::path& path, const AbcImportOptions& options = {});

// The parts of import_abc_file that read text it does not control, exposed for tests/fuzz/AbcImportFuzz.cpp.
namespace detail {

struct AbcTune {
  int number = 0;              // the X: field
  std::size_t first_line = 0;  // 1-based, as abc2midi counts them
  std::size_t last_line = 0;   // the line before the next tune (or a very large number)
};

// The tunes of an ABC text: one per line starting "X:<number>". Throws AbcImportError (naming `name` and the
// line) for an X: without a number, a number used twice, or a text without tunes.
std::vector<AbcTune> find_abc_tunes(const std::string& text, const std::string& name);

// abc2midi's messages about one tune, from its log: its "Error in line-char L-C" lines with L inside the
// tune, or the whole (trimmed) log when none is.
std::string abc2midi_errors_of(const AbcTune& tune, const std::string& log);

}  // namespace detail

}  // namespace nextbeat::engine
