// The piano-roll JSON of ../shared/data (see its README):
//   {"<split>": [sequence, ...], ...}   sequence = [step, ...]   step = [MIDI pitch 21..108, ...]
// and Jsb16thSeparated.json, whose steps are [S, A, T, B] with -1 for a silent
// voice. Both load as frames of the sounding keys.
#pragma once

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/codec/Codec.h"

namespace nextbeat::engine {

// "<file>: <JSON path>: <what>", e.g. "jsb.json: train[3][17][2]: expected a MIDI pitch 21..108, got 130".
class PianoRollDataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Split name ("train", "valid", "test", or whatever the file uses) -> sequences, in file order.
using PianoRollSplits = std::map<std::string, std::vector<EncodedSequence>>;

// Each sequence's steps carry frames (token -1), beat_tick = index % steps_per_beat
// and bar_beat = (index / steps_per_beat) % 4: the files have no meter. Duplicate
// pitches in a step (voices in unison) are one key. EncodedSequence::source is
// "<file>: <split>[<index>]".
//
// The SATB format is recognised by a file name containing "Separated" (any case), or
// by content: every step has exactly 4 entries and at least one is -1. Pitches may be
// written as integral floats (60.0, as in jsb-chorales-16th.json).
//
// Files are a boundary: any malformed input (not JSON, wrong types, numbers out of
// range, an empty file) throws PianoRollDataError naming the file and the JSON path.
PianoRollSplits load_pianoroll_json(const std::filesystem::path& path, int steps_per_beat);

// The same from text; `name` stands for the file in sources and messages.
PianoRollSplits parse_pianoroll_json(std::string_view text, const std::string& name, int steps_per_beat);

}  // namespace nextbeat::engine
