// load_dataset: splits by file (directory names, else a stable hash), archives,
// piano-roll JSON with either codec, skipped files; and transposition.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "SharedData.h"
#include "engine/codec/EventCodec.h"
#include "engine/codec/PianoRollCodec.h"
#include "engine/music/MidiFile.h"
#include "engine/offline/Dataset.h"
#include "engine/util/Subprocess.h"
#include "engine/util/TempDirectory.h"

namespace fs = std::filesystem;
using namespace nextbeat::engine;

namespace {

Score tune(int first_pitch, int notes = 4) {
  Score score;
  score.tempo_map = {{0, 120}};
  score.time_signatures = {{0, 4, 4}};
  for (int i = 0; i < notes; ++i) {
    Note note;
    note.pitch = first_pitch + i;
    note.start_beat = i * 0.5;
    note.end_beat = i * 0.5 + 0.5;
    score.notes.push_back(note);
  }
  return score;
}

// Files written into a scratch directory (removed with it).
struct TempTree {
  TempDirectory dir{"nextbeat-dataset-test"};
  const fs::path& root = dir.path();
  fs::path midi(const fs::path& relative, int pitch = 60) const {
    const fs::path path = root / relative;
    fs::create_directories(path.parent_path());
    write_midi_file(path, tune(pitch));
    return path;
  }
  fs::path score(const fs::path& relative, const Score& score) const {
    const fs::path path = root / relative;
    fs::create_directories(path.parent_path());
    write_midi_file(path, score);
    return path;
  }
  fs::path text(const fs::path& relative, const std::string& content) const {
    const fs::path path = root / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << content;
    return path;
  }
};

bool has_source_ending(const std::vector<EncodedSequence>& list, const std::string& end) {
  return std::any_of(list.begin(), list.end(), [&](const EncodedSequence& s) { return s.source.ends_with(end); });
}

bool any_warning_containing(const Dataset& dataset, const std::string& text) {
  return std::any_of(dataset.warnings.begin(), dataset.warnings.end(),
                     [&](const std::string& w) { return w.find(text) != std::string::npos; });
}

}  // namespace

TEST_CASE("stable_hash is FNV-1a 64 and the hash split is stable and about the asked fraction", "[unit]") {
  CHECK(stable_hash("") == 0xcbf29ce484222325ULL);
  CHECK(stable_hash("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(stable_hash("foobar") == 0x85944171f73967e8ULL);
  int valid = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string name = "tune_" + std::to_string(i) + ".mid";
    const Split split = split_by_hash(name, 0.1);
    CHECK(split == split_by_hash(name, 0.1));
    if (split == Split::kValid) ++valid;
    // A larger fraction only moves files into valid.
    if (split == Split::kValid) CHECK(split_by_hash(name, 0.2) == Split::kValid);
  }
  CHECK(valid > 800);
  CHECK(valid < 1200);
  CHECK(split_by_hash("anything.mid", 0.0) == Split::kTrain);
  CHECK(split_by_hash("anything.mid", 1.0) == Split::kValid);

  CHECK(split_of("train/a.mid", 0.5) == Split::kTrain);
  CHECK(split_of("data/Validation/x/a.mid", 0.5) == Split::kValid);
  CHECK(split_of("valid/test/a.mid", 0.5) == Split::kTest);  // the innermost directory decides
  CHECK(split_of("test.mid", 1.0) == Split::kValid);         // a file name is not a directory
  CHECK(split_of("pop/test_songs/a.mid", 0.0) == Split::kTrain);
}

TEST_CASE("load_dataset: splits by directory name or by hash, archives, warnings", "[unit]") {
  const TempTree tree;
  tree.midi("set/train/a.mid");
  tree.midi("set/train/deeper/b.MID");
  tree.midi("set/valid/c.midi");
  tree.midi("set/test/d.mid");
  std::vector<std::string> loose;
  for (int i = 0; i < 40; ++i) {
    loose.push_back("loose_" + std::to_string(i) + ".mid");
    tree.midi("set/misc/" + loose.back(), 40 + i);
  }
  tree.text("set/misc/README.md", "not music");
  tree.text("set/misc/broken.mid", "MThd, but not really");
  tree.text("set/rolls.json",
            R"({"train": [[[60], [62]]], "valid": [[[64]]], "test": [[[65], []]], "extra": [[[60]]]})");
  // An archive with its own split directories, one of them in another case.
  tree.midi("staging/Test/e.mid");
  tree.midi("staging/x/valid/f.mid");
  const std::string pack = (tree.root / "set/pack.tar.gz").string();
  REQUIRE(run_process({"tar", "-czf", pack, "-C", (tree.root / "staging").string(), "Test", "x"},
                      {.log = tree.root / "tar.log"})
              .succeeded());

  const EventCodec codec(CodecSettings{});
  DatasetOptions options;
  options.valid_fraction = 0.25;
  const Dataset dataset = load_dataset({tree.root / "set"}, codec, options);

  CHECK(dataset.files == 4 + 40 + 1 + 2);  // MIDI, JSON, and the archive's two members
  CHECK(dataset.failed_files == 1);
  CHECK(any_warning_containing(dataset, "broken.mid: "));
  CHECK(any_warning_containing(dataset, "rolls.json: split \"extra\""));
  CHECK(dataset.warnings.size() == 2);

  CHECK(has_source_ending(dataset.train, "set/train/a.mid"));
  CHECK(has_source_ending(dataset.train, "set/train/deeper/b.MID"));
  CHECK(has_source_ending(dataset.valid, "set/valid/c.midi"));
  CHECK(has_source_ending(dataset.test, "set/test/d.mid"));
  CHECK(has_source_ending(dataset.test, "pack.tar.gz!/Test/e.mid"));
  CHECK(has_source_ending(dataset.valid, "pack.tar.gz!/x/valid/f.mid"));
  CHECK(has_source_ending(dataset.train, "rolls.json: train[0]"));
  CHECK(has_source_ending(dataset.valid, "rolls.json: valid[0]"));
  CHECK(has_source_ending(dataset.test, "rolls.json: test[0]"));
  std::size_t in_valid = 0;
  for (const auto& name : loose) {
    const bool valid = split_by_hash(name, 0.25) == Split::kValid;
    in_valid += valid ? 1 : 0;
    CHECK(has_source_ending(valid ? dataset.valid : dataset.train, "/" + name));
  }
  CHECK(in_valid > 0);  // the hash does split these names
  CHECK(in_valid < loose.size());
  CHECK(dataset.train.size() + dataset.valid.size() + dataset.test.size() == 4 + 40 + 3 + 2);

  // Nothing of the archive's temporary copy is left behind or named.
  for (const auto& list : {dataset.train, dataset.valid, dataset.test}) {
    for (const auto& sequence : list) CHECK(sequence.source.find("nextbeat-data-") == std::string::npos);
  }

  SECTION("the same again gives the same dataset") {
    const Dataset again = load_dataset({tree.root / "set"}, codec, options);
    CHECK(again.train.size() == dataset.train.size());
    for (std::size_t i = 0; i < again.train.size(); ++i) CHECK(again.train[i].steps == dataset.train[i].steps);
  }
  SECTION("a split directory given as the input itself decides, and a file input's parent does") {
    const Dataset valid = load_dataset({(tree.root / "set/valid").string() + "/"}, codec, options);
    CHECK(valid.valid.size() == 1);
    const Dataset test = load_dataset({tree.root / "set/test/d.mid"}, codec, options);
    CHECK(test.test.size() == 1);
  }
  SECTION("strict: the first bad file throws, naming it") {
    options.strict = true;
    CHECK_THROWS_WITH(load_dataset({tree.root / "set"}, codec, options), Catch::Contains("broken.mid"));
  }
  SECTION("a missing input or a broken archive") {
    CHECK_THROWS_AS(load_dataset({tree.root / "nothing-here"}, codec, options), DatasetError);
    const fs::path bad = tree.text("bad.tgz", "not gzip");
    const Dataset broken = load_dataset({bad}, codec, options);
    CHECK(broken.failed_files == 1);
    REQUIRE(broken.warnings.size() == 1);
    CHECK_THAT(broken.warnings[0], Catch::StartsWith(bad.string() + ": tar failed"));
    const fs::path other = tree.text("notes.txt", "x");
    CHECK(load_dataset({other}, codec, options).failed_files == 1);
  }
}

TEST_CASE("load_dataset: piano-roll JSON with either codec", "[unit]") {
  const TempTree tree;
  // Two frames a beat: 60 for one beat, then 62 and 64 for half a beat.
  const fs::path json = tree.text("roll.json", R"({"train": [[[60], [60], [62, 64]]]})");
  SECTION("events: frames become notes at json_steps_per_beat") {
    const EventCodec codec(CodecSettings{});
    DatasetOptions options;
    options.json_steps_per_beat = 2;
    const Dataset dataset = load_dataset({json}, codec, options);
    REQUIRE(dataset.train.size() == 1);
    const Score decoded = codec.decode(dataset.train[0]);
    REQUIRE(decoded.notes.size() == 3);
    CHECK(decoded.notes[0].pitch == 60);
    CHECK(decoded.notes[0].end_beat == 1.0);
    CHECK(decoded.notes[1].start_beat == 1.0);
    CHECK(decoded.notes[2].end_beat == 1.5);
  }
  SECTION("pianoroll at the JSON's rate: the frames as they are") {
    CodecSettings settings;
    settings.kind = CodecKind::kPianoRoll;
    settings.steps_per_beat = 2;
    const PianoRollCodec codec(settings);
    const Dataset dataset = load_dataset({json}, codec, {});
    REQUIRE(dataset.train.size() == 1);
    REQUIRE(dataset.train[0].steps.size() == 3);
    CHECK(dataset.train[0].steps[2].frame.count() == 2);
    CHECK(dataset.train[0].steps[2].beat_tick == 0);
  }
  SECTION("pianoroll at another rate: resampled through notes") {
    CodecSettings settings;
    settings.kind = CodecKind::kPianoRoll;
    settings.steps_per_beat = 4;
    const PianoRollCodec codec(settings);
    DatasetOptions options;
    options.json_steps_per_beat = 2;
    const Dataset dataset = load_dataset({json}, codec, options);
    REQUIRE(dataset.train.size() == 1);
    CHECK(dataset.train[0].steps.size() == 6);
  }
}

TEST_CASE("load_dataset: the JSB MIDI archive splits by its directories", "[unit][data]") {
  const fs::path archive = nextbeat::test::shared_data("jsb_chorales/jsb-chorales-16th-satb-midi.tar.gz");
  const EventCodec codec(CodecSettings{});
  const Dataset dataset = load_dataset({archive}, codec, {});
  CHECK(dataset.warnings.empty());
  CHECK(dataset.files == 382);
  CHECK(dataset.train.size() == 229);
  CHECK(dataset.valid.size() == 76);
  CHECK(dataset.test.size() == 77);
  CHECK(has_source_ending(dataset.train,
                          "jsb-chorales-16th-satb-midi.tar.gz!/jsb-chorales-16th-satb-midi/train/train_000.mid"));
}

TEST_CASE("transpose: events and pianoroll, refusing pitches out of range", "[unit]") {
  SECTION("events") {
    const EventCodec codec(CodecSettings{});
    const EncodedSequence sequence = codec.encode(tune(60));
    const EncodedSequence up = transpose(sequence, 5, codec);
    REQUIRE(up.steps.size() == sequence.steps.size());
    const Score decoded = codec.decode(up);
    REQUIRE(decoded.notes.size() == 4);
    for (int i = 0; i < 4; ++i) CHECK(decoded.notes[static_cast<std::size_t>(i)].pitch == 65 + i);
    // Velocities, shifts and positions stay.
    for (std::size_t i = 0; i < up.steps.size(); ++i) {
      if (!EventLayout::is_note(sequence.steps[i].token)) CHECK(up.steps[i] == sequence.steps[i]);
      CHECK(up.steps[i].beat_tick == sequence.steps[i].beat_tick);
    }
    CHECK(transpose(transpose(sequence, 7, codec), -7, codec).steps == sequence.steps);
    CHECK(transpose(sequence, 0, codec).steps == sequence.steps);
    CHECK(transpose(codec.encode(tune(123)), 1, codec).steps.size() > 0);  // 127 is the top
    CHECK(transpose(codec.encode(tune(123)), 2, codec).steps.empty());
    CHECK(transpose(codec.encode(tune(1)), -1, codec).steps.size() > 0);
    CHECK(transpose(codec.encode(tune(1)), -2, codec).steps.empty());
  }
  SECTION("pianoroll") {
    CodecSettings settings;
    settings.kind = CodecKind::kPianoRoll;
    const PianoRollCodec codec(settings);
    const EncodedSequence sequence = codec.encode(tune(60));
    const EncodedSequence down = transpose(sequence, -12, codec);
    REQUIRE(down.steps.size() == sequence.steps.size());
    CHECK(codec.decode(down).notes.front().pitch == 48);
    CHECK(transpose(down, 12, codec).steps == sequence.steps);
    CHECK(transpose(codec.encode(tune(104)), 1, codec).steps.size() > 0);  // 108 is the top key
    CHECK(transpose(codec.encode(tune(104)), 2, codec).steps.empty());
    CHECK(transpose(codec.encode(tune(21)), -1, codec).steps.empty());
    CHECK(transpose(codec.encode(tune(21)), 87 - 3, codec).steps.size() > 0);
    CHECK(transpose(codec.encode(tune(21)), 100, codec).steps.empty());
  }
}

namespace {

// A lead sheet on two tracks: the melody (track 0) and a held chord (track 1).
Score two_parts() {
  Score score = tune(72);
  for (const int pitch : {48, 52, 55}) {
    Note chord;
    chord.track = 1;
    chord.pitch = pitch;
    chord.end_beat = 2;
    score.notes.push_back(chord);
  }
  score.track_names = {"Melody", "Chords"};
  score.sort_notes();
  return score;
}

std::size_t steps_with_source(const EncodedSequence& sequence, std::uint8_t source) {
  return static_cast<std::size_t>(
      std::count_if(sequence.steps.begin(), sequence.steps.end(), [&](const Step& s) { return s.source == source; }));
}

}  // namespace

TEST_CASE("dataset: with roles the performer's part is source 0 and the rest 1, one-part files are skipped") {
  TempTree tree;
  tree.score("train/duo.mid", two_parts());
  tree.midi("train/solo.mid");
  const EventCodec codec(CodecSettings{});
  DatasetOptions options;
  options.roles = parse_part_choice("name:Melody");
  const Dataset data = load_dataset({tree.root}, codec, options);
  REQUIRE(data.train.size() == 1);
  const EncodedSequence& duo = data.train.front();
  CHECK(steps_with_source(duo, 1) > 0);
  CHECK(steps_with_source(duo, 0) > 0);
  // Every NOTE_ON of the chord's pitches is nextbeat's, every melody NOTE_ON the performer's.
  for (const Step& s : duo.steps) {
    if (!EventLayout::is_note_on(s.token)) continue;
    CHECK(s.source == (EventLayout::pitch_of(s.token) < 60 ? 1 : 0));
  }
  REQUIRE(data.warnings.size() == 1);
  CHECK_THAT(data.warnings.front(), Catch::Contains("solo.mid: one part only"));
}

TEST_CASE("dataset: rotate_parts reads a train file once per part as the performer, a valid file once") {
  TempTree tree;
  tree.score("train/duo.mid", two_parts());
  tree.score("valid/duo.mid", two_parts());
  const EventCodec codec(CodecSettings{});
  DatasetOptions options;
  options.roles = PartChoice{};
  options.rotate_parts = true;
  const Dataset data = load_dataset({tree.root}, codec, options);
  REQUIRE(data.train.size() == 2);
  REQUIRE(data.valid.size() == 1);
  // The first train copy and the valid one: the melody is the performer's; the second copy: the chords.
  const auto performer_low_notes = [](const EncodedSequence& sequence) {
    int low = 0, high = 0;
    for (const Step& s : sequence.steps) {
      if (EventLayout::is_note_on(s.token) && s.source == 0) ++(EventLayout::pitch_of(s.token) < 60 ? low : high);
    }
    return std::pair{low, high};
  };
  CHECK(performer_low_notes(data.train[0]) == std::pair{0, 4});
  CHECK(performer_low_notes(data.train[1]) == std::pair{3, 0});
  CHECK(performer_low_notes(data.valid[0]) == std::pair{0, 4});
}

TEST_CASE("dataset: solo_copies also reads each file with every part nextbeat's, one-part files that way only") {
  TempTree tree;
  tree.score("train/duo.mid", two_parts());
  tree.score("valid/duo.mid", two_parts());
  tree.midi("train/solo.mid");
  const EventCodec codec(CodecSettings{});
  DatasetOptions options;
  options.roles = parse_part_choice("name:Melody");
  options.solo = DatasetOptions::Solo::kAlso;
  const Dataset data = load_dataset({tree.root}, codec, options);
  CHECK(data.warnings.empty());
  // train: duo alone, duo with roles, solo alone; valid: duo alone, duo with roles.
  REQUIRE(data.train.size() == 3);
  REQUIRE(data.valid.size() == 2);
  for (const auto* split : {&data.train, &data.valid}) {
    std::size_t alone = 0, with_performer = 0;
    for (const EncodedSequence& sequence : *split) {
      std::size_t performer_notes = 0;
      for (const Step& s : sequence.steps) performer_notes += EventLayout::is_note_on(s.token) && s.source == 0;
      ++(performer_notes == 0 ? alone : with_performer);
      if (performer_notes > 0) CHECK(performer_notes == 4);  // the melody's four notes
    }
    CHECK(with_performer == 1);
    CHECK(alone == split->size() - 1);
  }
}

TEST_CASE("dataset: include globs keep only the matching music files below an input") {
  TempTree tree;
  tree.midi("train/midi/a.mid");
  tree.midi("train/midi_melody/a.mid");
  const EventCodec codec(CodecSettings{});
  DatasetOptions options;
  options.include = {"*/midi/*.mid"};
  const Dataset data = load_dataset({tree.root}, codec, options);
  REQUIRE(data.train.size() == 1);
  CHECK(data.train.front().source.ends_with("train/midi/a.mid"));
}

TEST_CASE("move_performer_off_grid: one offset for the part, a small jitter per note, nextbeat's notes stay") {
  Score duo = two_parts();
  for (Note& note : duo.notes) {
    note.source = note.track == 0 ? kPerformerRole : kAccompanimentRole;
    note.start_beat += 4;  // clear of the clamp at beat 0
    note.end_beat += 4;
  }
  double lowest = 1, highest = -1;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    Score moved = duo;
    move_performer_off_grid(moved, seed);
    Score again = duo;
    move_performer_off_grid(again, seed);
    CHECK(moved.notes == again.notes);
    REQUIRE(moved.notes.size() == duo.notes.size());
    double first_shift = 0, min_shift = 1, max_shift = -1;
    for (std::size_t i = 0; i < duo.notes.size(); ++i) {
      const Note& before = duo.notes[i];
      const Note& after = moved.notes[i];
      if (before.source == kAccompanimentRole) {
        CHECK(after == before);
        continue;
      }
      CHECK(after.end_beat - after.start_beat == Approx(before.end_beat - before.start_beat));
      const double shift = after.start_beat - before.start_beat;
      if (min_shift > max_shift) first_shift = shift;
      min_shift = std::min(min_shift, shift);
      max_shift = std::max(max_shift, shift);
    }
    CHECK(max_shift - min_shift <= 0.2 + 1e-9);  // one offset, up to 0.1 beat of jitter either way
    CHECK(std::abs(first_shift) <= 0.6 + 1e-9);
    lowest = std::min(lowest, first_shift);
    highest = std::max(highest, first_shift);
  }
  CHECK(lowest < -0.4);  // offsets reach both ways, about half a beat
  CHECK(highest > 0.4);
}

TEST_CASE("dataset: off_grid_performer moves the performer of about half the train files, no valid file") {
  TempTree tree;
  for (int i = 0; i < 16; ++i) tree.score("train/duo" + std::to_string(i) + ".mid", two_parts());
  tree.score("valid/duo.mid", two_parts());
  const EventCodec codec(CodecSettings{});
  DatasetOptions options;
  options.roles = parse_part_choice("name:Melody");
  const Dataset plain = load_dataset({tree.root}, codec, options);
  options.off_grid_performer = true;
  const Dataset moved = load_dataset({tree.root}, codec, options);
  REQUIRE(plain.train.size() == 16);
  REQUIRE(moved.train.size() == 16);
  REQUIRE(moved.valid.size() == 1);
  CHECK(moved.valid.front().steps == plain.valid.front().steps);
  int changed = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    changed += moved.train[i].steps != plain.train[i].steps;
    // nextbeat's part is the same music: the same NOTE_ONs of source 1, in order.
    const auto own_notes = [](const EncodedSequence& sequence) {
      std::vector<int> pitches;
      for (const Step& s : sequence.steps) {
        if (EventLayout::is_note_on(s.token) && s.source == kAccompanimentRole) {
          pitches.push_back(EventLayout::pitch_of(s.token));
        }
      }
      return pitches;
    };
    CHECK(own_notes(moved.train[i]) == own_notes(plain.train[i]));
  }
  CHECK(changed >= 4);
  CHECK(changed <= 12);
}
