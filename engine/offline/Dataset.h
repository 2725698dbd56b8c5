// What `nextbeat train` reads: music files and piano-roll JSON, encoded with one
// codec, split into train / valid / test by file (never by window).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/codec/Codec.h"
#include "engine/music/Parts.h"

namespace nextbeat::engine {

class DatasetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DatasetOptions {
  double valid_fraction = 0.1;  // of the files with no split in their path (by a stable hash of the name)
  // Frames per quarter note of piano-roll JSON (JSB quarter 1, Nottingham 2, JSB 16th 4);
  // 0 = the codec's steps_per_beat. The events codec turns the frames into notes at
  // this rate; the pianoroll codec takes the frames as they are when the rates agree.
  int json_steps_per_beat = 0;
  bool strict = false;  // a file that fails to load throws DatasetError instead of a warning
  // Roles (a model with ModelSpec::roles): set, the notes of music files get
  // Note::source by part, this part the performer's (0) and every other note
  // nextbeat's (1). Files with one part only, and piano-roll JSON (no parts),
  // are skipped with a warning: they have nothing of nextbeat's to learn.
  std::optional<PartChoice> roles;
  // With roles: a train file of several parts is read once per part as the
  // performer (the soprano, then the alto... of a chorale): augmentation.
  // Valid and test files keep `roles` alone, so their figures compare.
  bool rotate_parts = false;
  // With roles, copies with every part nextbeat's and no performer:
  //   kAlso  each file is also read that way (train --solo-copies), one-part
  //          files that way only, so that one model learns both to play along
  //          and to play the whole texture alone (generate, and continue or
  //          call-response once the performer stops). In every split, so that
  //          the valid figure weighs both tasks as training does.
  //   kOnly  each file is read that way only (eval --alone: the model alone).
  enum class Solo : std::uint8_t { kNone, kAlso, kOnly };
  Solo solo = Solo::kNone;
  // With roles: half of the train copies with a performer (by a stable hash
  // of the file's name and the performer's part) get that part moved off the beat
  // grid by move_performer_off_grid (train --off-grid-performer), so that the
  // model keeps playing when the performer is not on nextbeat's beat: an
  // internal clock the performer does not share. Valid and test files stay.
  bool off_grid_performer = false;
  // Shell globs (fnmatch, '*' crosses '/') over music files' paths below a
  // directory or archive input ("*/midi/*.mid"); empty: every music file.
  std::vector<std::string> include;
};

struct Dataset {
  std::vector<EncodedSequence> train, valid, test;
  std::vector<std::string> warnings;  // one per skipped file or split: "<file>: <why>"
  std::size_t files = 0;              // files loaded (one .json counts once)
  std::size_t failed_files = 0;       // files skipped because they did not load
};

enum class Split { kTrain, kValid, kTest };

// Inputs: any mix of directories (searched recursively, in sorted order, other
// files ignored), .mid/.midi files, .abc files (every tune of the file), piano-roll
// .json files (their own splits: train, valid/validation, test; other names are
// skipped with a warning) and .tar.gz/.tgz archives (extracted with `tar` into a
// private temporary directory, removed afterwards, then read as a directory).
//
// Split of a music file: the last component of its path below the input (for an
// archive: inside it; for a directory input its own name counts too; for a file
// input its parent directory's name) named train, valid, validation or test (any
// case) decides; otherwise split_by_hash(file name).
//
// Sequences that encode to nothing (no representable notes) are skipped with a
// warning. Throws DatasetError for an input that does not exist, and, when
// options.strict, for the first file that fails to load.
Dataset load_dataset(const std::vector<std::filesystem::path>& inputs, const Codec& codec,
                     const DatasetOptions& options = {});

// The performer's notes (Note::source == kPerformerRole) of `score` moved by
// one offset for the whole part, in [-0.5, 0.5) beats, plus a jitter of up to
// +-0.1 beat per note, both drawn from `seed` (same seed, same moves);
// durations kept, a start before beat 0 clamped to 0. nextbeat's notes stay.
void move_performer_off_grid(Score& score, std::uint64_t seed);

// FNV-1a 64-bit: the same on every machine and every run.
std::uint64_t stable_hash(std::string_view text) noexcept;
// kValid for about `valid_fraction` of names, kTrain for the rest; stable.
Split split_by_hash(std::string_view file_name, double valid_fraction) noexcept;
// The split a relative path names through its directories (see load_dataset), else by hash of its file name.
Split split_of(const std::filesystem::path& relative_path, double valid_fraction);

// Augmentation. Events: NOTE_ON/NOTE_OFF tokens move by `semitones`; pianoroll:
// frames shift by `semitones` keys. Returns a sequence with no steps when any
// pitch would leave the codec's range (0..127, or the 88 keys).
EncodedSequence transpose(const EncodedSequence& sequence, int semitones, const Codec& codec);

}  // namespace nextbeat::engine
