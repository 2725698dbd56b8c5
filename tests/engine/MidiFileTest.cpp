#include "engine/music/MidiFile.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "SharedData.h"
#include "Skip.h"
#include "engine/util/Subprocess.h"
#include "engine/util/TempDirectory.h"

using namespace nextbeat::engine;
using nextbeat::test::shared_data;
using nextbeat::test::test_data;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

// Runs argv (no shell) with stdout and stderr into out_file; returns the exit status, or -1 when it did not exit.
int run(const std::vector<std::string>& args, const fs::path& out_file) {
  const ProcessResult result = run_process(args, {.log = out_file});
  return result.status == ProcessResult::Status::kExited ? result.exit_status : -1;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Bytes slurp_bytes(const fs::path& path) {
  const std::string s = slurp(path);
  return Bytes(s.begin(), s.end());
}

const char* const kJsb = "jsb-chorales-16th-satb-midi";            // the top folder inside each archive
const char* const kNottingham = "nottingham-jukedeck-trainvalid";  //

// Extracts from the JSB or the Nottingham archive (chosen by the path's top folder) into one directory kept for
// the whole run; only what a test asks for, once. An empty member extracts the whole archive.
fs::path extracted(const std::string& top, const std::string& member = "") {
  // Skips the test before the directory exists when the archive is missing.
  const fs::path archive =
      shared_data(top == kJsb ? "jsb_chorales/" + top + ".tar.gz" : "nottingham/" + top + ".tar.gz");
  static TempDirectory dir("nextbeat-midi-test");
  static std::set<std::string> done;
  const std::string path = member.empty() ? top : top + "/" + member;
  if (!done.count(top) && !done.count(path)) {
    const fs::path log = dir.path() / "tar.log";
    std::vector<std::string> args = {"tar", "-xzf", archive.string(), "-C", dir.path().string()};
    if (!member.empty()) args.push_back(path);
    const int rc = run(args, log);
    INFO(slurp(log));
    REQUIRE(rc == 0);
    done.insert(path);
  }
  return dir.path() / path;
}

std::vector<fs::path> mid_files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".mid") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A chorale of the JSB MIDI archive: from tests/data when it is one of the few committed there (train 0 and 2,
// valid 3, test 1 and 7), else extracted from the shared archive.
fs::path jsb_file(const std::string& split, int index) {
  char name[32];
  std::snprintf(name, sizeof name, "%s_%03d.mid", split.c_str(), index);
  if (const fs::path committed = test_data("jsb_chorales/" + split + "/" + name); fs::exists(committed)) {
    return committed;
  }
  return extracted(kJsb, split + "/" + name);
}

// --- Building SMF bytes by hand --------------------------------------------------------------------------------

Bytes be32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8),
          static_cast<std::uint8_t>(v)};
}

Bytes header(int format, int tracks, int division, std::uint32_t length = 6) {
  Bytes out = {'M', 'T', 'h', 'd'};
  const Bytes len = be32(length);
  out.insert(out.end(), len.begin(), len.end());
  for (int v : {format, tracks, division}) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
  }
  return out;
}

Bytes chunk(const char* id, const Bytes& body) {
  Bytes out(id, id + 4);
  const Bytes len = be32(static_cast<std::uint32_t>(body.size()));
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// A whole file: the header (22 bytes with one track: 14 of header, 8 of chunk header) then the tracks.
Bytes smf(int format, int division, const std::vector<Bytes>& tracks) {
  Bytes out = header(format, static_cast<int>(tracks.size()), division);
  for (const auto& t : tracks) {
    const Bytes c = chunk("MTrk", t);
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const Bytes kEndOfTrack = {0x00, 0xFF, 0x2F, 0x00};

// Parses and expects a MidiFileError whose message names the source and the byte offset.
void require_error_at(const Bytes& bytes, std::size_t offset, const std::string& expected_text = "") {
  const std::string name = "hand-built.mid";
  try {
    parse_midi(bytes, name);
    FAIL("no MidiFileError for a malformed input; expected one at byte " << offset);
  } catch (const MidiFileError& e) {
    const std::string message = e.what();
    INFO(message);
    CHECK(message.rfind(name + ": byte " + std::to_string(offset) + ": ", 0) == 0);
    REQUIRE(e.byte_offset());
    CHECK(*e.byte_offset() == offset);
    if (!expected_text.empty()) CHECK(message.find(expected_text) != std::string::npos);
  }
}

using NoteKey = std::tuple<double, double, int, int, int, int>;  // start, end, pitch, velocity, channel, track

std::vector<NoteKey> keys(const Score& score, bool with_track) {
  std::vector<NoteKey> out;
  for (const auto& n : score.notes) {
    out.emplace_back(n.start_beat, n.end_beat, n.pitch, n.velocity, n.channel, with_track ? n.track : 0);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_sensible(const Score& score) {
  INFO(score.source);
  REQUIRE(!score.notes.empty());
  CHECK(score.ticks_per_beat > 0);
  REQUIRE(!score.tempo_map.empty());
  CHECK(score.tempo_map.front().beat == 0);
  REQUIRE(!score.time_signatures.empty());
  CHECK(score.time_signatures.front().beat == 0);
  bool ok = true;
  for (std::size_t i = 0; i < score.notes.size(); ++i) {
    const Note& n = score.notes[i];
    ok = ok && n.pitch >= 0 && n.pitch <= 127 && n.velocity >= 1 && n.velocity <= 127 && n.channel >= 0 &&
         n.channel <= 15 && n.track >= 0 && n.start_beat >= 0 && n.end_beat > n.start_beat;
    if (i > 0) ok = ok && score.notes[i - 1].start_beat <= n.start_beat;
  }
  CHECK(ok);
}

// Write then read gives the same notes, tempo map and time signatures.
void check_round_trip(const fs::path& file) {
  const Score original = read_midi_file(file);
  INFO(original.source);
  const Score again = parse_midi(serialize_midi(original, original.ticks_per_beat), "round trip");
  CHECK(again.ticks_per_beat == original.ticks_per_beat);
  CHECK(again.tempo_map == original.tempo_map);
  CHECK(again.time_signatures == original.time_signatures);
  CHECK(keys(again, false) == keys(original, false));
  // Track indices survive when track 0 holds no notes and each track one channel (JSB, the pop files don't).
  const bool conventional =
      std::none_of(original.notes.begin(), original.notes.end(), [](const Note& n) { return n.track == 0; });
  if (file.string().find("jsb") != std::string::npos) REQUIRE(conventional);
  if (conventional && file.string().find("multitrack_pop") == std::string::npos) {
    CHECK(keys(again, true) == keys(original, true));
  }
}

// Every truncation of a real file is an error naming the file and a byte.
void check_every_truncation(const fs::path& path) {
  const Bytes bytes = slurp_bytes(path);
  REQUIRE(bytes.size() > 100);
  REQUIRE_NOTHROW(parse_midi(bytes, path.string()));
  // Every prefix of the small files; a spread of them for the large one.
  const std::size_t step = bytes.size() < 20000 ? 1 : 61;
  std::size_t failures = 0;
  for (std::size_t cut = 0; cut < bytes.size(); cut += step) {
    try {
      parse_midi(std::span(bytes).first(cut), path.filename().string());
      ++failures;
      FAIL_CHECK("no error for " << path.filename().string() << " cut to " << cut << " bytes");
    } catch (const MidiFileError& e) {
      const std::string message = e.what();
      const bool names =
          message.rfind(path.filename().string() + ": byte ", 0) == 0 && e.byte_offset() && *e.byte_offset() <= cut;
      if (!names) {
        ++failures;
        FAIL_CHECK(message);
      }
    }
    if (failures > 5) break;
  }
}

}  // namespace

// --- Real files ---------------------------------------------------------------------------------------------------

TEST_CASE("every MIDI file in the shared data loads with sensible content", "[unit][data]") {
  std::map<std::string, std::vector<fs::path>> groups;
  groups["piano_performance"] = mid_files_in(shared_data("piano_performance"));
  groups["multitrack_pop"] = mid_files_in(shared_data("multitrack_pop"));
  for (const char* split : {"train", "valid", "test"}) {
    auto files = mid_files_in(extracted(kJsb) / split);
    groups["jsb"].insert(groups["jsb"].end(), files.begin(), files.end());
  }
  for (const char* split : {"train", "valid"}) {
    for (const char* kind : {"midi", "midi_melody", "midi_chords"}) {
      auto files = mid_files_in(extracted(kNottingham) / split / kind);
      groups[std::string("nottingham/") + kind].insert(groups[std::string("nottingham/") + kind].end(), files.begin(),
                                                       files.end());
    }
  }
  CHECK(groups["piano_performance"].size() == 7);
  CHECK(groups["multitrack_pop"].size() == 12);
  CHECK(groups["jsb"].size() == 382);
  CHECK(groups["nottingham/midi"].size() == 827);
  CHECK(groups["nottingham/midi_melody"].size() == 827);
  CHECK(groups["nottingham/midi_chords"].size() == 819);

  std::size_t loaded = 0;
  for (const auto& [group, files] : groups) {
    for (const auto& file : files) {
      Score score;
      try {
        score = read_midi_file(file);
      } catch (const MidiFileError& e) {
        FAIL(e.what());
      }
      check_sensible(score);
      CHECK(score.source == file.string());
      ++loaded;
    }
  }
  CHECK(loaded == 2874);
}

TEST_CASE("real files: resolutions, drums and track layout come through", "[unit][data]") {
  const Score maestro = read_midi_file(shared_data("piano_performance/maestro_1.mid"));
  CHECK(maestro.ticks_per_beat == 384);

  // Multi-track pop files carry a drum part on channel 9; it is kept.
  const Score pop = read_midi_file(shared_data("multitrack_pop/Funkytown.mid"));
  CHECK(std::any_of(pop.notes.begin(), pop.notes.end(), [](const Note& n) { return n.is_drum(); }));
  std::set<int> tracks;
  for (const auto& n : pop.notes) tracks.insert(n.track);
  CHECK(tracks.size() > 3);

  // Nottingham: 3/4 for this waltz; melody and chords on two tracks.
  const Score waltz = read_midi_file(extracted(kNottingham, "train/midi/ashover1.mid"));
  REQUIRE(!waltz.time_signatures.empty());
  CHECK(waltz.time_signatures[0] == TimeSignature{0, 3, 4});
  CHECK(waltz.ticks_per_beat == 1024);
}

TEST_CASE("JSB MIDI read back on the 16th grid reproduces Jsb16thSeparated.json", "[unit][data]") {
  std::ifstream in(shared_data("jsb_chorales/Jsb16thSeparated.json"));
  const nlohmann::json json = nlohmann::json::parse(in);
  extracted(kJsb);  // all 382 at once
  std::size_t checked = 0;
  for (const char* split : {"train", "valid", "test"}) {
    const auto& sequences = json.at(split);
    for (std::size_t index = 0; index < sequences.size(); ++index) {
      const Score score = read_midi_file(jsb_file(split, static_cast<int>(index)));
      INFO(score.source);
      const auto& steps = sequences[index];
      std::vector<std::array<int, 4>> grid(steps.size(), {-1, -1, -1, -1});
      bool on_grid = true;
      for (const auto& n : score.notes) {
        const double start = n.start_beat * 4, end = n.end_beat * 4;  // 4 sixteenths per beat
        on_grid = on_grid && start == std::floor(start) && end == std::floor(end) && n.channel >= 0 && n.channel < 4;
        for (auto s = static_cast<std::size_t>(start); s < static_cast<std::size_t>(end) && s < grid.size(); ++s) {
          grid[s][static_cast<std::size_t>(n.channel)] = n.pitch;
        }
        on_grid = on_grid && end <= static_cast<double>(grid.size());
      }
      REQUIRE(on_grid);
      bool same = true;
      for (std::size_t s = 0; s < steps.size(); ++s) {
        for (std::size_t v = 0; v < 4; ++v) same = same && steps[s][v].get<int>() == grid[s][v];
      }
      REQUIRE(same);
      ++checked;
    }
  }
  CHECK(checked == 382);
}

TEST_CASE("the committed JSB chorales: layout, and round trips through the writer", "[unit]") {
  // 4 tracks of notes (S, A, T, B) on channels 0..3 after the tempo track, at a fixed 80 bpm.
  const Score jsb = read_midi_file(jsb_file("train", 0));
  CHECK(jsb.ticks_per_beat == 480);
  REQUIRE(jsb.tempo_map.size() == 1);
  CHECK(jsb.tempo_map[0].bpm == Approx(80.0));
  for (const auto& n : jsb.notes) CHECK(n.track == n.channel + 1);

  for (const auto& file : {jsb_file("train", 0), jsb_file("valid", 3)}) check_round_trip(file);
}

TEST_CASE("round trips of real files through the writer", "[unit][data]") {
  SECTION("write then read gives the same notes, tempo map and time signatures") {
    std::vector<fs::path> files = {shared_data("piano_performance/maestro_5.mid"),
                                   shared_data("piano_performance/POP909_008.mid"),
                                   extracted(kNottingham, "train/midi/ashover1.mid")};
    for (const auto& f : mid_files_in(shared_data("multitrack_pop"))) files.push_back(f);
    for (const auto& file : files) check_round_trip(file);
  }

  SECTION("writing at another resolution moves notes by at most half a tick") {
    const Score original = read_midi_file(shared_data("piano_performance/maestro_1.mid"));  // 384 tpq
    const Score again = parse_midi(serialize_midi(original, 480), "480");
    REQUIRE(again.notes.size() == original.notes.size());
    CHECK(again.ticks_per_beat == 480);
    const auto a = keys(original, true);
    const auto b = keys(again, true);
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      worst = std::max(worst, std::abs(std::get<0>(a[i]) - std::get<0>(b[i])));
      CHECK(std::get<2>(a[i]) == std::get<2>(b[i]));
    }
    CHECK(worst <= 0.5 / 480 + 1e-12);
  }
}

TEST_CASE("files we write are read alike by mido, an independent reader", "[unit][data]") {
  const fs::path python = "/usr/bin/python3";
  if (!fs::exists(python)) {
    nextbeat::test::skip_test("needs /usr/bin/python3 with mido (Debian python3-mido), the reference reader");
  }
  const std::vector<fs::path> files = {jsb_file("test", 1), shared_data("multitrack_pop/Mr._Blue_Sky.mid"),
                                       shared_data("piano_performance/POP909_010.mid")};
  TempDirectory dir("nextbeat-midi-test");
  std::vector<std::pair<fs::path, Score>> written;
  int n = 0;
  for (const auto& file : files) {
    const Score score = read_midi_file(file);
    const fs::path out = dir.path() / ("written " + std::to_string(n++) + ".mid");  // a space on purpose
    write_midi_file(out, score, 480);
    written.emplace_back(out, score);
  }
  // Prints, per file: type, resolution, track count and every note-on (absolute tick, channel, pitch, velocity).
  const std::string script = R"(
import json, sys
try:
    import mido
except ImportError:
    sys.exit(77)
for path in sys.argv[1:]:
    f = mido.MidiFile(path)
    ons, offs = [], 0
    for track in f.tracks:
        tick = 0
        for m in track:
            tick += m.time
            if m.type == 'note_on' and m.velocity > 0:
                ons.append([tick, m.channel, m.note, m.velocity])
            elif m.type == 'note_off' or m.type == 'note_on':
                offs += 1
    print(json.dumps({'type': f.type, 'tpb': f.ticks_per_beat, 'tracks': len(f.tracks), 'ons': sorted(ons),
                      'offs': offs}))
)";
  std::vector<std::string> args = {python.string(), "-c", script};
  for (const auto& [path, score] : written) args.push_back(path.string());
  const fs::path out = dir.path() / "mido.out";
  const int rc = run(args, out);
  if (rc == 77) nextbeat::test::skip_test("needs mido importable by /usr/bin/python3 (Debian python3-mido)");
  INFO(slurp(out));
  REQUIRE(rc == 0);
  std::istringstream lines(slurp(out));
  for (const auto& [path, score] : written) {
    std::string line;
    REQUIRE(std::getline(lines, line));
    const auto result = nlohmann::json::parse(line);
    INFO(path.string());
    CHECK(result["type"] == 1);
    CHECK(result["tpb"] == 480);
    std::vector<std::array<long, 4>> expected;
    for (const auto& note : score.notes) {
      expected.push_back({std::lround(note.start_beat * 480), note.channel, note.pitch, note.velocity});
    }
    std::sort(expected.begin(), expected.end());
    CHECK(result["ons"].get<std::vector<std::array<long, 4>>>() == expected);
    CHECK(result["offs"].get<std::size_t>() == score.notes.size());
  }
}

// --- Hand-built files: the features one at a time --------------------------------------------------------------

TEST_CASE("hand-built files: each feature of the format", "[unit]") {
  SECTION("running status and note-on with velocity 0 as note-off") {
    // C4 and E4 with one status byte; both ended by note-on velocity 0, still under running status.
    const Bytes track = Bytes{0x00, 0x90, 60, 100, 0x00, 64, 90, 0x83, 0x60, 60, 0, 0x00, 64, 0x00} + kEndOfTrack;
    const Score score = parse_midi(smf(0, 480, {track}), "running.mid");
    REQUIRE(score.notes.size() == 2);
    CHECK(score.notes[0] == Note{60, 100, 0, 0, 0.0, 1.0});
    CHECK(score.notes[1] == Note{64, 90, 0, 0, 0.0, 1.0});
    CHECK(score.ticks_per_beat == 480);
    CHECK(score.tempo_map == std::vector<TempoChange>{{0, 120}});
    CHECK(score.time_signatures == std::vector<TimeSignature>{{0, 4, 4}});
  }

  SECTION("overlapping notes of one pitch pair first in, first out") {
    // on@0 (v100), on@480 (v50), off@960, off@1440.
    const Bytes track =
        Bytes{0x00, 0x90, 60, 100, 0x83, 0x60, 0x90, 60, 50, 0x83, 0x60, 0x80, 60, 0, 0x83, 0x60, 60, 0} + kEndOfTrack;
    const Score score = parse_midi(smf(0, 480, {track}), "overlap.mid");
    REQUIRE(score.notes.size() == 2);
    CHECK(score.notes[0] == Note{60, 100, 0, 0, 0.0, 2.0});
    CHECK(score.notes[1] == Note{60, 50, 0, 0, 1.0, 3.0});

    // A re-struck note written "new note-on, then the old note-off" at one tick: FIFO ends the old note.
    const Bytes restruck =
        Bytes{0x00, 0x91, 62, 80, 0x83, 0x60, 62, 70, 0x00, 0x81, 62, 0, 0x83, 0x60, 62, 0} + kEndOfTrack;
    const Score again = parse_midi(smf(0, 480, {restruck}), "restruck.mid");
    REQUIRE(again.notes.size() == 2);
    CHECK(again.notes[0] == Note{62, 80, 1, 0, 0.0, 1.0});
    CHECK(again.notes[1] == Note{62, 70, 1, 0, 1.0, 2.0});
  }

  SECTION("zero-length, unclosed and stray notes") {
    const Bytes track = {0x00, 0x99, 36,   127,                      // drum hit, ended at the same tick: one tick long
                         0x00, 0x89, 36,   0,    0x00, 0x80, 70, 0,  // a note-off with no note: ignored
                         0x00, 0x90, 72,   60,  // never ended: ends at the end of the track (beat 2)
                         0x87, 0x40, 0xFF, 0x2F, 0x00};
    const Score score = parse_midi(smf(0, 480, {track}), "odd.mid");
    REQUIRE(score.notes.size() == 2);
    CHECK(score.notes[0] == Note{36, 127, 9, 0, 0.0, 1.0 / 480});
    CHECK(score.notes[0].is_drum());
    CHECK(score.notes[1] == Note{72, 60, 0, 0, 0.0, 2.0});
  }

  SECTION("sysex and meta events are skipped, and running status survives them") {
    const Bytes track =
        Bytes{0x00, 0x90, 60,   100,                                          // note on, running status 0x90
              0x00, 0xF0, 0x05, 0x7E, 0x7F, 0x09, 0x01, 0xF7,                 // sysex
              0x00, 0xF7, 0x02, 0xF3, 0x01,                                   // escape sysex
              0x00, 0xFF, 0x01, 0x04, 'a',  'b',  'c',  'd',                  // text
              0x00, 0xFF, 0x03, 0x00,                                         // empty track name
              0x00, 0xFF, 0x7F, 0x03, 0x00, 0x00, 0x41,                       // sequencer-specific
              0x00, 0xB0, 64,   127,  0x00, 0xC0, 5,    0x00, 0xE0, 0,  64,   // CC, program, bend
              0x00, 0xA0, 60,   10,   0x00, 0xD0, 20,                         // pressures
              0x00, 0x90, 62,   90,                                           //
              0x83, 0x60, 60,   0,    0x00, 0xFF, 0x01, 0x00, 0x00, 62, 0} +  // running status after a meta
        kEndOfTrack;
    const Score score = parse_midi(smf(0, 96, {track}), "skip.mid");
    REQUIRE(score.notes.size() == 2);
    CHECK(score.notes[0] == Note{60, 100, 0, 0, 0.0, 5.0});
    CHECK(score.notes[1] == Note{62, 90, 0, 0, 0.0, 5.0});
  }

  SECTION("tempo and time signature changes: beats do not depend on tempo") {
    const Bytes tempo_track = Bytes{0x00, 0xFF, 0x58, 0x04, 3,    2,    24,   8,     // 3/4 at 0
                                    0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20,        // 500000 us = 120 bpm at 0
                                    0x87, 0x40, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40,  // 1000000 us = 60 bpm at beat 2
                                    0x00, 0xFF, 0x58, 0x04, 6,    3,    24,   8}     // 6/8 at beat 2
                              + kEndOfTrack;
    const Bytes notes = Bytes{0x8F, 0x00, 0x92, 67, 80, 0x83, 0x60, 0x82, 67, 64} + kEndOfTrack;  // beat 4..5
    const Score score = parse_midi(smf(1, 480, {tempo_track, notes}), "tempo.mid");
    CHECK(score.tempo_map == std::vector<TempoChange>{{0, 120}, {2, 60}});
    CHECK(score.time_signatures == std::vector<TimeSignature>{{0, 3, 4}, {2, 6, 8}});
    REQUIRE(score.notes.size() == 1);
    CHECK(score.notes[0] == Note{67, 80, 2, 1, 4.0, 5.0});

    // Events before the first tempo: 120 bpm and 4/4 are put at beat 0.
    const Bytes late = Bytes{0x83, 0x60, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40} + kEndOfTrack;
    const Score later = parse_midi(smf(1, 480, {late, notes}), "late-tempo.mid");
    CHECK(later.tempo_map == std::vector<TempoChange>{{0, 120}, {1, 60}});
    CHECK(later.time_signatures == std::vector<TimeSignature>{{0, 4, 4}});
  }

  SECTION("format 0 with several channels, and format 2 tracks played one after another") {
    const Bytes one = Bytes{0x00, 0x90, 60, 100, 0x00, 0x99, 38, 100, 0x00, 0x93, 48, 70, 0x81,
                            0x70, 0x80, 60, 0,   0x00, 0x89, 38, 0,   0x00, 0x83, 48, 0} +
                      kEndOfTrack;
    const Score format0 = parse_midi(smf(0, 240, {one}), "format0.mid");
    REQUIRE(format0.notes.size() == 3);
    for (const auto& n : format0.notes) CHECK(n.track == 0);
    CHECK(format0.notes[0] == Note{38, 100, 9, 0, 0.0, 1.0});
    CHECK(format0.notes[1] == Note{48, 70, 3, 0, 0.0, 1.0});
    CHECK(format0.notes[2] == Note{60, 100, 0, 0, 0.0, 1.0});

    // Two patterns of 2 beats each (the second ends with a rest): in format 2 the second starts at beat 2.
    const Bytes pattern = {0x00, 0x90, 60, 100, 0x83, 0x60, 0x80, 60, 0, 0x83, 0x60, 0xFF, 0x2F, 0x00};
    const Score format2 = parse_midi(smf(2, 480, {pattern, pattern}), "format2.mid");
    REQUIRE(format2.notes.size() == 2);
    CHECK(format2.notes[0] == Note{60, 100, 0, 0, 0.0, 1.0});
    CHECK(format2.notes[1] == Note{60, 100, 0, 1, 2.0, 3.0});
  }

  SECTION("unknown chunks are skipped as the SMF spec asks, and long headers are accepted") {
    const Bytes track = chunk("MTrk", Bytes{0x00, 0x90, 60, 100, 0x60, 60, 0} + kEndOfTrack);
    const Bytes bytes = header(1, 1, 96, 8) + Bytes{0, 0} + chunk("XFIH", {1, 2, 3}) + track + Bytes{0, 0, 0};
    const Score score = parse_midi(bytes, "alien.mid");
    REQUIRE(score.notes.size() == 1);
    CHECK(score.notes[0].end_beat == 1.0);
  }
}

// --- Malformed input: a MidiFileError naming the file and the byte -------------------------------------------

TEST_CASE("malformed input throws MidiFileError naming the file and the byte", "[unit]") {
  SECTION("malformed headers and chunks name the byte") {
    const Bytes good_track = Bytes{0x00, 0x90, 60, 100, 0x60, 60, 0} + kEndOfTrack;
    SECTION("empty input") {
      require_error_at({}, 0, "expected a header chunk 'MThd', got an empty file");
    }
    SECTION("not a MIDI file") {
      require_error_at({'R', 'I', 'F', 'F', 0, 0}, 0, "got 'RIFF'");
    }
    SECTION("header cut short") {
      require_error_at({'M', 'T', 'h', 'd', 0, 0}, 4, "the header length");
    }
    SECTION("header length 5") {
      require_error_at(header(0, 1, 96, 5) + chunk("MTrk", good_track), 4, "at least 6");
    }
    SECTION("header length past the end") {
      require_error_at(header(0, 1, 96, 1000) + chunk("MTrk", good_track), 4, "runs past the end");
    }
    SECTION("format 3") {
      require_error_at(smf(3, 96, {good_track}), 8, "expected format 0, 1 or 2, got 3");
    }
    SECTION("no tracks") {
      require_error_at(header(1, 0, 96), 10, "at least one track");
    }
    SECTION("SMPTE division") {
      require_error_at(smf(1, 0xE728, {good_track}), 12, "SMPTE time division (25 frames/s, 40 ticks/frame)");
    }
    SECTION("division 0") {
      require_error_at(smf(1, 0, {good_track}), 12, "positive number of ticks");
    }
    SECTION("garbage chunk id") {
      require_error_at(header(1, 1, 96) + chunk("\x01\x02XY", good_track), 14,
                       "expected a track chunk 'MTrk', got '\\x01\\x02XY'");
    }
    SECTION("chunk length past the end") {
      Bytes bytes = smf(1, 96, {good_track});
      bytes[21] = 0xFF;  // length low byte: 255 > 11 bytes left
      require_error_at(bytes, 18, "chunk length 255 runs past the end of the file (11 bytes left)");
    }
    SECTION("fewer tracks than the header says") {
      Bytes bytes = smf(1, 96, {good_track});
      bytes[11] = 2;
      require_error_at(bytes, bytes.size(), "expected track chunk 2 of 2 ('MTrk'), got the end of the file");
    }
    SECTION("only an unknown chunk where a track should be") {
      const Bytes bytes = header(1, 1, 96) + chunk("XFIH", {1, 2});
      require_error_at(bytes, bytes.size(), "(skipped 1 unknown chunk(s), the first 'XFIH' at byte 14)");
    }
    SECTION("chunk header cut short") {
      require_error_at(header(1, 1, 96) + Bytes{'M', 'T'}, 14, "a chunk id");
    }
  }

  SECTION("malformed track events name the byte") {
    // In smf(0, 96, {track}) the track's first byte is at offset 22.
    auto file = [](const Bytes& track) { return smf(0, 96, {track}); };
    SECTION("a 5-byte variable-length quantity") {
      require_error_at(file(Bytes{0x81, 0x82, 0x83, 0x84, 0x05, 0x90, 60, 1} + kEndOfTrack), 22, "at most 4 bytes");
    }
    SECTION("a data byte with no running status") {
      require_error_at(file(Bytes{0x00, 60, 100} + kEndOfTrack), 23, "got data byte 0x3C with no running status");
    }
    SECTION("a status byte where a data byte belongs") {
      require_error_at(file(Bytes{0x00, 0x90, 60, 0x90} + kEndOfTrack), 25, "a note-on velocity (a data byte < 0x80)");
    }
    SECTION("an event cut by the end of the chunk") {
      require_error_at(file(Bytes{0x00, 0x90, 60}), 25, "expected a note-on velocity, got the end of the track chunk");
    }
    SECTION("a delta time cut by the end of the chunk") {
      require_error_at(file(Bytes{0x00, 0x90, 60, 1, 0x81}), 27, "expected a delta time");
    }
    SECTION("a meta event longer than the chunk") {
      require_error_at(file(Bytes{0x00, 0xFF, 0x01, 0x7F, 'x'}), 26, "meta event length 127 runs past the end");
    }
    SECTION("a sysex longer than the chunk") {
      require_error_at(file(Bytes{0x00, 0xF0, 0x81, 0x00, 0x01, 0xF7}), 26, "sysex length 128 runs past the end");
    }
    SECTION("a tempo of 2 bytes") {
      require_error_at(file(Bytes{0x00, 0xFF, 0x51, 0x02, 0x07, 0xA1} + kEndOfTrack), 25, "expected tempo length 3");
    }
    SECTION("a tempo of 0") {
      require_error_at(file(Bytes{0x00, 0xFF, 0x51, 0x03, 0, 0, 0} + kEndOfTrack), 26, "tempo > 0");
    }
    SECTION("a time signature with an absurd denominator") {
      require_error_at(file(Bytes{0x00, 0xFF, 0x58, 0x04, 4, 40, 24, 8} + kEndOfTrack), 26, "4/2^40");
    }
    SECTION("a system common message") {
      require_error_at(file(Bytes{0x00, 0xF1, 0x00} + kEndOfTrack), 23, "got 0xF1");
    }
    SECTION("a meta event length that is itself cut") {
      require_error_at(file(Bytes{0x00, 0xFF, 0x01, 0x80}), 26, "a meta event length");
    }
  }
}

TEST_CASE("truncated real files of the shared data", "[unit][data]") {
  for (const auto& path :
       {extracted(kNottingham, "valid/midi/jigs124.mid"), shared_data("multitrack_pop/Funkytown.mid")}) {
    check_every_truncation(path);
  }
}

TEST_CASE("truncated and corrupted committed JSB chorales", "[unit]") {
  SECTION("every truncation is an error naming the file and a byte") {
    check_every_truncation(jsb_file("train", 2));
  }

  SECTION("corrupted files either load or throw MidiFileError") {
    const Bytes original = slurp_bytes(jsb_file("test", 7));
    std::mt19937 rng(1234);
    std::uniform_int_distribution<std::size_t> where(0, original.size() - 1);
    std::uniform_int_distribution<int> value(0, 255);
    int loaded = 0, rejected = 0;
    for (int i = 0; i < 3000; ++i) {
      Bytes bytes = original;
      for (int k = 0; k < 1 + i % 4; ++k) bytes[where(rng)] = static_cast<std::uint8_t>(value(rng));
      try {
        const Score score = parse_midi(bytes, "corrupt.mid");
        for (const auto& n : score.notes) REQUIRE(n.end_beat > n.start_beat);
        ++loaded;
      } catch (const MidiFileError& e) {
        REQUIRE(std::string(e.what()).rfind("corrupt.mid: byte ", 0) == 0);
        ++rejected;
      }
    }
    CHECK(loaded > 0);
    CHECK(rejected > 0);
  }
}

TEST_CASE("reading and writing files and scores", "[unit]") {
  SECTION("file-level errors name the path") {
    TempDirectory dir("nextbeat-midi-test");
    const fs::path missing = dir.path() / "missing.mid";
    CHECK_THROWS_WITH(read_midi_file(missing), Catch::Contains(missing.string()) && Catch::Contains("cannot open"));
    CHECK_THROWS_WITH(read_midi_file(dir.path()), Catch::Contains("not a regular file"));
    const fs::path junk = dir.path() / "junk.mid";
    std::ofstream(junk) << "hello";
    CHECK_THROWS_WITH(read_midi_file(junk), Catch::StartsWith(junk.string() + ": byte 0: expected a header chunk"));
  }

  // --- Writing
  // --------------------------------------------------------------------------------------------------------

  SECTION("writing: a tempo track, then one track per (track, channel) group") {
    Score score;
    score.source = "built";
    score.tempo_map = {{0, 100}, {8, 150}};  // whole microseconds per beat: exact
    score.time_signatures = {{0, 4, 4}, {4, 7, 8}};
    score.notes = {{60, 100, 0, 0, 0.0, 1.0},
                   {38, 90, 9, 0, 0.5, 0.75},
                   {64, 80, 0, 0, 1.0, 2.5},
                   {67, 70, 2, 5, 2.0, 3.0},
                   {67, 71, 3, 5, 2.0, 3.0}};
    const Score again = parse_midi(serialize_midi(score, 480), "again");
    CHECK(again.tempo_map == score.tempo_map);
    CHECK(again.time_signatures == score.time_signatures);
    // Format 0 style notes (track 0) move to tracks 1 (channel 0) and 2 (channel 9); track 5 keeps its index for
    // channel 2 and channel 3 goes to the next free one.
    std::map<std::pair<int, int>, int> track_of;  // (old track, channel) -> new track
    for (const auto& n : again.notes) track_of[{n.pitch == 67 ? 5 : 0, n.channel}] = n.track;
    CHECK(track_of == std::map<std::pair<int, int>, int>{{{0, 0}, 1}, {{0, 9}, 2}, {{5, 2}, 5}, {{5, 3}, 6}});
    REQUIRE(again.notes.size() == score.notes.size());
    for (std::size_t i = 0; i < score.notes.size(); ++i) {
      Note expected = score.notes[i];
      expected.track = again.notes[i].track;
      CHECK(again.notes[i] == expected);
    }
  }

  SECTION("writing keeps overlapping same-pitch notes and re-struck notes") {
    Score score;
    score.notes = {{60, 100, 0, 1, 0.0, 2.0},   {60, 50, 0, 1, 1.0, 3.0},   // overlapping
                   {62, 90, 0, 1, 4.0, 5.0},    {62, 80, 0, 1, 5.0, 6.0},   // back to back
                   {64, 70, 0, 1, 7.0, 7.0001}, {64, 60, 0, 1, 7.0, 9.0}};  // a sub-tick note and a long one at once
    const Score again = parse_midi(serialize_midi(score, 480), "again");
    REQUIRE(again.notes.size() == 6);
    for (std::size_t i = 0; i < 4; ++i) CHECK(again.notes[i] == score.notes[i]);
    CHECK(again.notes[4] == Note{64, 70, 0, 1, 7.0, 3361.0 / 480});  // one tick, the shortest there is
    CHECK(again.notes[5] == score.notes[5]);
  }

  SECTION("scores that cannot be written are refused with a reason") {
    auto with_note = [](Note n) {
      Score s;
      s.source = "bad score";
      s.notes = {n};
      return s;
    };
    CHECK_THROWS_WITH(serialize_midi(with_note({200, 100, 0, 0, 0, 1})), Catch::Contains("pitch is outside 0..127"));
    CHECK_THROWS_WITH(serialize_midi(with_note({60, 0, 0, 0, 0, 1})), Catch::Contains("velocity 0"));
    CHECK_THROWS_WITH(serialize_midi(with_note({60, 100, 16, 0, 0, 1})), Catch::Contains("channel 16"));
    CHECK_THROWS_WITH(serialize_midi(with_note({60, 100, 0, -1, 0, 1})), Catch::Contains("track -1"));
    CHECK_THROWS_WITH(serialize_midi(with_note({60, 100, 0, 0, 2, 1})), Catch::Contains("<= start_beat"));
    CHECK_THROWS_WITH(serialize_midi(with_note({60, 100, 0, 0, -1, 1})), Catch::Contains("negative"));
    CHECK_THROWS_WITH(serialize_midi(with_note({60, 100, 0, 0, 0, 1e12})), Catch::Contains("beyond tick"));
    CHECK_THROWS_WITH(serialize_midi(with_note({60, 100, 0, 0, 0, 1}), 0), Catch::Contains("ticks per beat"));
    Score tempo = with_note({60, 100, 0, 0, 0, 1});
    tempo.tempo_map = {{0, 0}};
    CHECK_THROWS_WITH(serialize_midi(tempo), Catch::StartsWith("bad score: tempo change at beat"));
    Score meter = with_note({60, 100, 0, 0, 0, 1});
    meter.time_signatures = {{0, 4, 3}};
    CHECK_THROWS_WITH(serialize_midi(meter), Catch::Contains("4/3"));
  }

  SECTION("write_midi_file writes atomically and leaves no temporary file") {
    TempDirectory dir("nextbeat-midi-test");
    Score score;
    score.notes = {{60, 100, 0, 1, 0.0, 1.0}};
    const fs::path path = dir.path() / "it's a \"song\".mid";
    write_midi_file(path, score);
    CHECK(read_midi_file(path).notes.size() == 1);
    score.notes.push_back({62, 100, 0, 1, 1.0, 2.0});
    write_midi_file(path, score);  // replaces the old file
    CHECK(read_midi_file(path).notes.size() == 2);
    CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);

    const fs::path nowhere = dir.path() / "no such dir" / "x.mid";
    CHECK_THROWS_WITH(write_midi_file(nowhere, score), Catch::StartsWith(nowhere.string() + ": cannot write") &&
                                                           Catch::Contains("creating temporary file"));
    score.notes.push_back({300, 100, 0, 1, 1.0, 2.0});
    CHECK_THROWS_AS(write_midi_file(path, score), MidiFileError);
    CHECK(read_midi_file(path).notes.size() == 2);  // the old file is untouched
    CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);
  }
}

// --- Hostile files: what a small file may cost (issue 12, item 4) ------------------------------------------------

TEST_CASE("a delta time past the longest score is refused, naming the byte", "[unit]") {
  // 37 bytes, division 1, a note-off 0x0FFFFFFF beats after its note-on: a 268-million-beat score that cost
  // `generate` 99 s of CPU before it was refused.
  const Bytes track = Bytes{0x00, 0x90, 60, 100, 0xFF, 0xFF, 0xFF, 0x7F, 0x80, 60, 0} + kEndOfTrack;
  const Bytes file = smf(0, 1, {track});
  REQUIRE(file.size() == 37);
  require_error_at(file, 26, "expected an event within 65536 beats of the start");
  // The same at the limit loads; format 2 tracks add up.
  const Bytes at_limit = Bytes{0x00, 0x90, 60, 100, 0x84, 0x80, 0x00, 0x80, 60, 0} + kEndOfTrack;  // 65536 beats
  CHECK(parse_midi(smf(0, 1, {at_limit}), "ok.mid").notes.at(0).end_beat == 65536.0);
  require_error_at(smf(2, 1, {at_limit, at_limit}), 22 + at_limit.size() + 8 + 4, "got one at beat 131072");
}

TEST_CASE("note stacks are capped: a note-on past the cap ends the oldest of its key", "[unit]") {
  // 200 note-ons of one key, one a tick, and no note-off: a drum track written without note-offs.
  Bytes track = {0x00, 0x99, 42, 100};
  for (int i = 1; i < 200; ++i) track = track + Bytes{0x01, 42, 100};
  const Score score = parse_midi(smf(0, 1, {track + kEndOfTrack}), "drums.mid");
  REQUIRE(score.notes.size() == 200);
  for (std::size_t i = 0; i < score.notes.size(); ++i) {
    INFO(i);
    CHECK(score.notes[i].start_beat == static_cast<double>(i));
    // The first 72 end when the 129th and later notes strike; the last 128 at the end of the track (the one
    // struck there lasts a tick).
    const double end = i + kMaxStackedNotes < 200 ? static_cast<double>(i + kMaxStackedNotes)
                                                  : std::max(199.0, static_cast<double>(i) + 1);
    CHECK(score.notes[i].end_beat == end);
  }
}

TEST_CASE("a file of too many notes is refused at the note past the cap", "[unit]") {
  // 8 MB of running-status note-ons on one key at one tick (3 bytes each): 2.8 million notes, which took
  // `generate` to a 1 GB peak. The note that is one too many is named.
  const std::size_t count = (8u << 20) / 3;
  Bytes track = {0x00, 0x90, 60, 100};
  track.reserve(4 + 3 * count + kEndOfTrack.size());
  for (std::size_t i = 1; i < count; ++i) track.insert(track.end(), {0x00, 60, 100});
  const Bytes file = smf(0, 96, {track + kEndOfTrack});
  // Note-on k (1-based) past the stack cap ends note k - kMaxStackedNotes; its data byte (running status)
  // is at 22 + 4 + 3 (k - 2) + 1.
  const std::size_t k = kMaxMidiNotes + kMaxStackedNotes + 1;
  require_error_at(file, 22 + 4 + 3 * (k - 2) + 1, "expected at most 524288 notes in a file, got more");
}

TEST_CASE("read_midi_file refuses large and non-regular files before reading them", "[unit]") {
  TempDirectory dir("nextbeat-midi-test");
  SECTION("larger than the cap: refused, naming the file and the size") {
    const fs::path big = dir.path() / "big.mid";
    // A valid file padded by one long sysex: it would parse, but it is larger than any real MIDI file.
    const std::size_t body = kMaxMidiFileBytes + 16;
    const auto seven = [&](int shift, int more) { return static_cast<std::uint8_t>(more | ((body >> shift) & 0x7F)); };
    Bytes sysex = {0x00, 0xF0, seven(21, 0x80), seven(14, 0x80), seven(7, 0x80), seven(0, 0)};
    sysex.resize(sysex.size() + body, 0x01);
    const Bytes file = smf(0, 96, {sysex + kEndOfTrack});
    std::ofstream(big, std::ios::binary)
        .write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
    REQUIRE(parse_midi(file, "big").notes.empty());
    CHECK_THROWS_WITH(read_midi_file(big),
                      Catch::StartsWith(big.string() + ": is ") && Catch::Contains("bytes, more than the 16777216"));
  }
  SECTION("a FIFO is refused at once (no writer is waited for)") {
    const fs::path fifo = dir.path() / "fifo.mid";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH(read_midi_file(fifo), Catch::StartsWith(fifo.string() + ": is not a regular file"));
  }
  SECTION("a device is refused (not read until memory runs out)") {
    CHECK_THROWS_WITH(read_midi_file("/dev/zero"), Catch::StartsWith("/dev/zero: is not a regular file"));
  }
}

TEST_CASE("write_midi_file does not follow a symlink planted at a temporary name", "[unit]") {
  // The writer used "<path>.tmp-<pid>", opened without O_EXCL or O_NOFOLLOW: another local user could plant a
  // symlink there and have the file they point it at overwritten. Now it writes through AtomicFile.
  TempDirectory dir("nextbeat-midi-test");
  const fs::path out = dir.path() / "out.mid";
  const fs::path victim = dir.path() / "victim.txt";
  std::ofstream(victim) << "keep me";
  const fs::path planted = out.string() + ".tmp-" + std::to_string(::getpid());
  fs::create_symlink(victim, planted);
  Score score;
  score.notes = {{60, 100, 0, 0, 0.0, 1.0}};
  write_midi_file(out, score);
  CHECK(slurp(victim) == "keep me");
  CHECK(fs::is_symlink(planted));
  REQUIRE(fs::is_regular_file(fs::symlink_status(out)));
  CHECK(read_midi_file(out).notes.size() == 1);
}
