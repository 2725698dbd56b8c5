// The events and pianoroll codecs: the token layout, hand-built cases, the
// streaming encoder against the batch one, and round trips over every file of
// ../shared/data.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "SharedData.h"
#include "engine/codec/Codec.h"
#include "engine/codec/EventCodec.h"
#include "engine/codec/LiveStream.h"
#include "engine/codec/PianoRollCodec.h"
#include "engine/music/AbcImport.h"
#include "engine/music/MidiFile.h"
#include "engine/music/PianoRollData.h"
#include "engine/util/Subprocess.h"
#include "engine/util/TempDirectory.h"

namespace fs = std::filesystem;
using namespace nextbeat::engine;
using nextbeat::test::shared_data;

namespace {

Note make_note(int pitch, double start, double end, int velocity = 100, int channel = 0, std::uint8_t source = 0) {
  Note note;
  note.pitch = pitch;
  note.velocity = velocity;
  note.channel = channel;
  note.start_beat = start;
  note.end_beat = end;
  note.source = source;
  return note;
}

Score make_score(std::vector<Note> notes, std::vector<TimeSignature> time_signatures = {{0, 4, 4}}) {
  Score score;
  score.notes = std::move(notes);
  score.time_signatures = std::move(time_signatures);
  score.tempo_map = {{0, 120}};
  score.sort_notes();
  return score;
}

std::vector<std::string> describe_all(const Codec& codec, const EncodedSequence& sequence) {
  std::vector<std::string> names;
  for (const auto& step : sequence.steps) names.push_back(codec.describe(step));
  return names;
}

// ---- The documented quantization, written again here, independently of the codec ----

struct TickNote {
  long long start, end;
  int pitch, velocity;
  int source;
  bool operator==(const TickNote&) const = default;
};

// The middle MIDI velocity of the bin that `velocity` falls in, by brute force.
int expected_bin_velocity(int velocity, int bins) {
  auto bin = [bins](int v) { return (v - 1) * bins / 127; };
  const int b = bin(std::clamp(velocity, 1, 127));
  int lo = 128, hi = 0;
  for (int v = 1; v <= 127; ++v) {
    if (bin(v) == b) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  return (lo - 1 + hi - 1) / 2 + 1;
}

// What decode(encode(score)) must give, in ticks: EventCodec.h's rules.
std::vector<TickNote> expected_events_notes(const Score& score, const CodecSettings& settings) {
  std::map<int, std::vector<TickNote>> by_pitch;
  for (const auto& n : score.notes) {
    if (n.is_drum() && !settings.include_drums) continue;
    const long long start = std::max(0LL, std::llround(n.start_beat * settings.ticks_per_beat));
    const long long end = std::max(start + 1, std::llround(n.end_beat * settings.ticks_per_beat));
    by_pitch[n.pitch].push_back({start, end, n.pitch, n.velocity, n.source});
  }
  std::vector<TickNote> out;
  for (auto& [pitch, notes] : by_pitch) {
    std::stable_sort(notes.begin(), notes.end(),
                     [](const TickNote& a, const TickNote& b) { return a.start < b.start; });
    std::vector<TickNote> merged;
    for (const auto& n : notes) {
      if (!merged.empty() && merged.back().start == n.start) {
        merged.back().end = std::max(merged.back().end, n.end);
        merged.back().velocity = std::max(merged.back().velocity, n.velocity);
      } else if (!merged.empty() && merged.back().end > n.start) {
        TickNote next = n;
        next.end = std::max(n.end, merged.back().end);
        merged.back().end = n.start;
        merged.push_back(next);
      } else {
        merged.push_back(n);
      }
    }
    for (auto& n : merged) {
      n.velocity = expected_bin_velocity(n.velocity, settings.velocity_bins);
      out.push_back(n);
    }
  }
  std::sort(out.begin(), out.end(), [](const TickNote& a, const TickNote& b) {
    return std::tie(a.start, a.pitch) < std::tie(b.start, b.pitch);
  });
  return out;
}

std::vector<TickNote> to_ticks(const Score& decoded, int ticks_per_beat) {
  std::vector<TickNote> out;
  for (const auto& n : decoded.notes) {
    out.push_back({std::llround(n.start_beat * ticks_per_beat), std::llround(n.end_beat * ticks_per_beat), n.pitch,
                   n.velocity, n.source});
  }
  std::sort(out.begin(), out.end(), [](const TickNote& a, const TickNote& b) {
    return std::tie(a.start, a.pitch) < std::tie(b.start, b.pitch);
  });
  return out;
}

// Compares and reports the first difference (a whole-vector REQUIRE prints too much).
void check_round_trip(const EventCodec& codec, const Score& score) {
  const EncodedSequence encoded = codec.encode(score);
  const auto expected = expected_events_notes(score, codec.settings());
  const auto decoded = to_ticks(codec.decode(encoded), codec.settings().ticks_per_beat);
  INFO(score.source);
  REQUIRE(decoded.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (decoded[i] == expected[i]) continue;
    INFO("note " << i << ": expected pitch " << expected[i].pitch << " ticks " << expected[i].start << ".."
                 << expected[i].end << " vel " << expected[i].velocity << ", got pitch " << decoded[i].pitch
                 << " ticks " << decoded[i].start << ".." << decoded[i].end << " vel " << decoded[i].velocity);
    REQUIRE(decoded[i] == expected[i]);
  }
}

// Extracts an archive into a fresh temporary directory (removed by the destructor).
struct Extracted {
  TempDirectory dir{"nextbeat-codec-test"};
  const fs::path& root = dir.path();
  // `members`: tar wildcards of what to extract (all when empty); fewer files, faster tests.
  explicit Extracted(const fs::path& archive, const std::vector<std::string>& members = {}) {
    std::vector<std::string> args = {"tar", "-xzf", archive.string(), "-C", root.string()};
    if (!members.empty()) args.push_back("--wildcards");
    args.insert(args.end(), members.begin(), members.end());
    const ProcessResult result = run_process(args, {.log = root / "tar.log"});
    REQUIRE(result.succeeded());
  }
};

std::vector<fs::path> files_with(const fs::path& root, std::initializer_list<const char*> extensions) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    for (const char* ext : extensions) {
      if (entry.path().extension() == ext) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

// ---- Layout ------------------------------------------------------------------------

TEST_CASE("events token layout is the documented one", "[unit]") {
  const EventCodec codec(CodecSettings{});
  const EventLayout& layout = codec.layout();
  CHECK(codec.input_size() == 384);
  CHECK(EventLayout::note_on_token(60) == 60);
  CHECK(EventLayout::note_off_token(60) == 188);
  CHECK(layout.velocity_token(0) == 256);
  CHECK(layout.velocity_token(31) == 287);
  CHECK(layout.shift_token(1) == 288);
  CHECK(layout.shift_token(96) == 383);
  CHECK(EventLayout::is_note_on(127));
  CHECK_FALSE(EventLayout::is_note_on(128));
  CHECK(EventLayout::is_note_off(128));
  CHECK(EventLayout::pitch_of(188) == 60);
  CHECK(layout.is_velocity(287));
  CHECK_FALSE(layout.is_velocity(288));
  CHECK(layout.is_shift(383));
  CHECK_FALSE(layout.is_shift(384));
  CHECK(layout.shift_ticks_of(290) == 3);
  CHECK(layout.velocity_bin(100) == 24);  // the literal VELOCITY(24) below

  Step step;
  step.token = 60;
  CHECK(codec.describe(step) == "NOTE_ON(60)");
  step.token = 188;
  CHECK(codec.describe(step) == "NOTE_OFF(60)");
  step.token = layout.shift_token(3);
  CHECK(codec.describe(step) == "SHIFT(3)");
  step.token = layout.velocity_token(12);
  CHECK(codec.describe(step) == "VELOCITY(12)");
  step.token = 999;
  CHECK(codec.describe(step) == "UNKNOWN(999)");

  CodecSettings small;
  small.velocity_bins = 8;
  small.max_shift_ticks = 24;
  CHECK(EventCodec(small).input_size() == 256 + 8 + 24);
}

TEST_CASE("velocity bins are uniform over 1..127 and every bin's velocity maps back to it", "[unit]") {
  for (int bins = 1; bins <= 127; ++bins) {
    const EventLayout layout{bins, 96};
    for (int b = 0; b < bins; ++b) REQUIRE(layout.velocity_bin(layout.bin_velocity(b)) == b);
    REQUIRE(layout.velocity_bin(1) == 0);
    REQUIRE(layout.velocity_bin(127) == bins - 1);
    for (int v = 1; v <= 127; ++v)
      REQUIRE(layout.bin_velocity(layout.velocity_bin(v)) == expected_bin_velocity(v, bins));
  }
}

TEST_CASE("codec settings out of range are refused at construction", "[unit]") {
  CodecSettings settings;
  settings.velocity_bins = 0;
  CHECK_THROWS_AS(make_codec(settings), std::invalid_argument);
  settings = {};
  settings.max_shift_ticks = 0;
  CHECK_THROWS_AS(make_codec(settings), std::invalid_argument);
  settings = {};
  settings.kind = CodecKind::kPianoRoll;
  settings.steps_per_beat = 0;
  CHECK_THROWS_AS(make_codec(settings), std::invalid_argument);
  settings.steps_per_beat = 4;
  CHECK(make_codec(settings)->input_size() == kKeys);
}

// ---- Hand-built cases --------------------------------------------------------------

TEST_CASE("events: a chord, then a single note", "[unit]") {
  const EventCodec codec(CodecSettings{});
  const Score score =
      make_score({make_note(67, 0, 1), make_note(60, 0, 1), make_note(64, 0, 1), make_note(72, 1, 1.5)});
  const auto names = describe_all(codec, codec.encode(score));
  const int bin = codec.layout().velocity_bin(100);
  const std::string velocity = "VELOCITY(" + std::to_string(bin) + ")";
  CHECK(names == std::vector<std::string>{velocity, "NOTE_ON(60)", "NOTE_ON(64)", "NOTE_ON(67)", "SHIFT(12)",
                                          "NOTE_OFF(60)", "NOTE_OFF(64)", "NOTE_OFF(67)", "NOTE_ON(72)", "SHIFT(6)",
                                          "NOTE_OFF(72)"});
  check_round_trip(codec, score);
}

TEST_CASE("events: same-pitch overlap retriggers, same-onset doubles merge", "[unit]") {
  const EventCodec codec(CodecSettings{});
  SECTION("a note struck again while it sounds") {
    // 60 over beats 0..2, struck again at 1 (until 1.5): the pitch sounds 0..2, retriggered at 1.
    const Score score = make_score({make_note(60, 0, 2), make_note(60, 1, 1.5)});
    const auto names = describe_all(codec, codec.encode(score));
    CHECK(names == std::vector<std::string>{"VELOCITY(24)", "NOTE_ON(60)", "SHIFT(12)", "NOTE_OFF(60)", "NOTE_ON(60)",
                                            "SHIFT(12)", "NOTE_OFF(60)"});
    check_round_trip(codec, score);
  }
  SECTION("two voices in unison from the same onset") {
    const Score score = make_score({make_note(60, 0, 1, 50, 0), make_note(60, 0, 2, 90, 1)});
    const Score decoded = codec.decode(codec.encode(score));
    REQUIRE(decoded.notes.size() == 1);
    CHECK(decoded.notes[0].end_beat == 2);
    CHECK(codec.layout().velocity_bin(decoded.notes[0].velocity) == codec.layout().velocity_bin(90));
    check_round_trip(codec, score);
  }
  SECTION("back-to-back repeats and notes shorter than a tick") {
    const Score score = make_score({make_note(62, 0, 0.5), make_note(62, 0.5, 1), make_note(64, 1, 1.01)});
    const auto names = describe_all(codec, codec.encode(score));
    CHECK(names == std::vector<std::string>{"VELOCITY(24)", "NOTE_ON(62)", "SHIFT(6)", "NOTE_OFF(62)", "NOTE_ON(62)",
                                            "SHIFT(6)", "NOTE_OFF(62)", "NOTE_ON(64)", "SHIFT(1)", "NOTE_OFF(64)"});
    check_round_trip(codec, score);
  }
}

TEST_CASE("events: gaps longer than max_shift_ticks take several SHIFTs", "[unit]") {
  const EventCodec codec(CodecSettings{});
  const Score score = make_score({make_note(60, 0, 1), make_note(62, 20, 21)});  // 228 silent ticks
  const auto names = describe_all(codec, codec.encode(score));
  CHECK(names == std::vector<std::string>{"VELOCITY(24)", "NOTE_ON(60)", "SHIFT(12)", "NOTE_OFF(60)", "SHIFT(96)",
                                          "SHIFT(96)", "SHIFT(36)", "NOTE_ON(62)", "SHIFT(12)", "NOTE_OFF(62)"});
  check_round_trip(codec, score);
}

TEST_CASE("events: VELOCITY only when the bin changes", "[unit]") {
  const EventCodec codec(CodecSettings{});
  const EventLayout& layout = codec.layout();
  REQUIRE(layout.velocity_bin(90) == layout.velocity_bin(91));
  const Score score = make_score({make_note(60, 0, 1, 90), make_note(62, 1, 2, 91), make_note(64, 2, 3, 20),
                                  make_note(65, 3, 4, 20), make_note(67, 3, 4, 90)});
  const auto names = describe_all(codec, codec.encode(score));
  const std::string loud = "VELOCITY(" + std::to_string(layout.velocity_bin(90)) + ")";
  const std::string soft = "VELOCITY(" + std::to_string(layout.velocity_bin(20)) + ")";
  CHECK(names == std::vector<std::string>{loud, "NOTE_ON(60)", "SHIFT(12)", "NOTE_OFF(60)", "NOTE_ON(62)", "SHIFT(12)",
                                          "NOTE_OFF(62)", soft, "NOTE_ON(64)", "SHIFT(12)", "NOTE_OFF(64)",
                                          "NOTE_ON(65)", loud, "NOTE_ON(67)", "SHIFT(12)", "NOTE_OFF(65)",
                                          "NOTE_OFF(67)"});
  check_round_trip(codec, score);
}

TEST_CASE("events: drums are dropped unless include_drums", "[unit]") {
  const Score score = make_score({make_note(36, 0, 0.25, 100, kDrumChannel), make_note(60, 0, 1)});
  CodecSettings settings;
  const EventCodec without(settings);
  CHECK(without.decode(without.encode(score)).notes.size() == 1);
  settings.include_drums = true;
  const EventCodec with(settings);
  CHECK(with.decode(with.encode(score)).notes.size() == 2);
  check_round_trip(with, score);
  // Pianoroll too.
  CodecSettings roll;
  roll.kind = CodecKind::kPianoRoll;
  const PianoRollCodec piano(roll);
  CHECK(piano.decode(piano.encode(score)).notes.size() == 1);
}

TEST_CASE("events: eighth-note triplets and sixteenths fall on the 12-tick grid", "[unit]") {
  const EventCodec codec(CodecSettings{});
  std::vector<Note> notes;
  for (int i = 0; i < 3; ++i) notes.push_back(make_note(60 + i, i / 3.0, (i + 1) / 3.0));
  for (int i = 0; i < 4; ++i) notes.push_back(make_note(70 + i, 1 + i / 4.0, 1 + (i + 1) / 4.0));
  const Score score = make_score(notes);
  const Score decoded = codec.decode(codec.encode(score));
  REQUIRE(decoded.notes.size() == 7);
  for (std::size_t i = 0; i < 7; ++i) {
    CHECK(decoded.notes[i].start_beat == Approx(score.notes[i].start_beat).margin(1e-12));
    CHECK(decoded.notes[i].end_beat == Approx(score.notes[i].end_beat).margin(1e-12));
  }
  check_round_trip(codec, score);
  // Off the grid: a quintuplet rounds to the nearest tick.
  const Score quintuplet = make_score({make_note(60, 0.2, 0.4)});
  const Score rounded = codec.decode(codec.encode(quintuplet));
  CHECK(rounded.notes[0].start_beat == Approx(2.0 / 12));
  CHECK(rounded.notes[0].end_beat == Approx(5.0 / 12));
}

TEST_CASE("events: beat_tick, bar_beat and source of each step", "[unit]") {
  const EventCodec codec(CodecSettings{});
  SECTION("3/4: three beats to the bar; SHIFT carries the time before it") {
    std::vector<Note> notes;
    for (int beat = 0; beat < 7; ++beat) notes.push_back(make_note(60, beat + 0.5, beat + 1, 100, 0, 1));
    const EncodedSequence encoded = codec.encode(make_score(notes, {{0, 3, 4}}));
    const EventLayout& layout = codec.layout();
    std::vector<int> on_bar_beats;
    for (const auto& step : encoded.steps) {
      CHECK(step.source == 1);
      if (EventLayout::is_note_on(step.token)) {
        CHECK(step.beat_tick == 6);
        on_bar_beats.push_back(step.bar_beat);
      }
      if (EventLayout::is_note_off(step.token)) CHECK(step.beat_tick == 0);
    }
    CHECK(on_bar_beats == std::vector<int>{0, 1, 2, 0, 1, 2, 0});
    // SHIFTs carry the time before they move: 0 -> 6 (leading silence), 6 -> 12, 12 -> 18 (in beat 1).
    std::vector<std::pair<int, int>> shifts;  // (beat_tick, bar_beat)
    for (const auto& step : encoded.steps) {
      if (layout.is_shift(step.token)) shifts.emplace_back(step.beat_tick, step.bar_beat);
    }
    REQUIRE(shifts.size() >= 3);
    CHECK(shifts[0] == std::pair{0, 0});
    CHECK(shifts[1] == std::pair{6, 0});
    CHECK(shifts[2] == std::pair{0, 1});
  }
  SECTION("the bar count restarts at a time-signature change; 6/8 has 3 beats, 7/8 rounds to 4") {
    std::vector<Note> notes;
    for (int beat = 0; beat < 14; ++beat) notes.push_back(make_note(60, beat, beat + 0.5));
    // 4/4 for beats 0..4, 6/8 from beat 5 (mid-bar), 7/8 from beat 11.
    const EncodedSequence encoded = codec.encode(make_score(notes, {{0, 4, 4}, {5, 6, 8}, {11, 7, 8}}));
    std::vector<int> on_bar_beats;
    for (const auto& step : encoded.steps) {
      if (EventLayout::is_note_on(step.token)) on_bar_beats.push_back(step.bar_beat);
    }
    CHECK(on_bar_beats == std::vector<int>{0, 1, 2, 3, 0, 0, 1, 2, 0, 1, 2, 0, 1, 2});
  }
  SECTION("NOTE_OFF carries its note's source") {
    const EncodedSequence encoded =
        codec.encode(make_score({make_note(60, 0, 2, 100, 0, 0), make_note(64, 1, 2, 100, 0, 1)}));
    for (const auto& step : encoded.steps) {
      if (EventLayout::is_note(step.token)) CHECK(step.source == (EventLayout::pitch_of(step.token) == 64 ? 1 : 0));
    }
  }
  SECTION("meter marks and beats per bar") {
    CHECK(beats_per_bar({0, 3, 4}) == 3);
    CHECK(beats_per_bar({0, 6, 8}) == 3);
    CHECK(beats_per_bar({0, 7, 8}) == 4);
    CHECK(beats_per_bar({0, 2, 2}) == 4);
    CHECK(beats_per_bar({0, 1, 16}) == 1);
    CHECK(beats_per_bar({0, 64, 4}) == 16);
    CHECK(beats_per_bar({0, 0, 4}) == 4);
    const auto marks = meter_marks({{2, 3, 4}, {2, 5, 4}}, 12);
    CHECK(marks == std::vector<MeterMark>{{0, 4}, {24, 5}});
  }
}

TEST_CASE("events: decoding is total and closes what is left open", "[unit]") {
  const EventCodec codec(CodecSettings{});
  const EventLayout& layout = codec.layout();
  EncodedSequence sequence;
  for (int token : {60, 60, layout.shift_token(2), 188, 188, 64, layout.shift_token(5), 67, -5, 100000, 999}) {
    Step step;
    step.token = token;
    sequence.steps.push_back(step);
  }
  const Score decoded = codec.decode(sequence);
  REQUIRE(decoded.notes.size() == 3);
  CHECK(decoded.notes[0].pitch == 60);
  CHECK(decoded.notes[0].end_beat == Approx(2.0 / 12));
  CHECK(decoded.notes[1].pitch == 64);  // open until the end
  CHECK(decoded.notes[1].end_beat == Approx(7.0 / 12));
  CHECK(decoded.notes[2].pitch == 67);  // opened at the very end: one tick
  CHECK(decoded.notes[2].end_beat == Approx(8.0 / 12));
  CHECK(codec.decode(EncodedSequence{}).notes.empty());
  CHECK(codec.encode(Score{}).steps.empty());
}

// ---- Streaming encoder -------------------------------------------------------------

namespace {

struct LiveEvent {
  long long tick;
  bool on;
  int pitch, velocity;
  std::uint8_t source;
};

// The score as the live path would see it: one event at a time, in time order,
// note-offs before note-ons on a tick.
std::vector<LiveEvent> live_events(const Score& score, int ticks_per_beat) {
  std::vector<LiveEvent> events;
  for (const auto& n : score.notes) {
    if (n.is_drum()) continue;
    events.push_back({std::llround(n.start_beat * ticks_per_beat), true, n.pitch, n.velocity, n.source});
    events.push_back({std::llround(n.end_beat * ticks_per_beat), false, n.pitch, 0, n.source});
  }
  std::stable_sort(events.begin(), events.end(), [](const LiveEvent& a, const LiveEvent& b) {
    return std::tie(a.tick, a.on, a.pitch) < std::tie(b.tick, b.on, b.pitch);
  });
  return events;
}

// Feeds events through a small fixed buffer that is drained whenever it fills.
std::vector<Step> stream(const CodecSettings& settings, const std::vector<LiveEvent>& events,
                         std::span<const MeterMark> marks) {
  std::array<Step, 4> buffer;  // smaller than a long gap's SHIFTs: exercises the resume path
  StepWriter writer(buffer);
  EventEncoder encoder(settings);
  encoder.set_meter_marks(marks);
  std::vector<Step> out;
  for (const auto& e : events) {
    for (int attempt = 0;; ++attempt) {
      REQUIRE(attempt < 1000);
      const bool done = e.on ? encoder.note_on(e.tick, e.pitch, e.velocity, e.source, writer)
                             : encoder.note_off(e.tick, e.pitch, e.source, writer);
      out.insert(out.end(), writer.steps().begin(), writer.steps().end());
      writer.clear();
      if (done) break;
    }
  }
  return out;
}

// A random score on the grid with no same-pitch overlaps (what the batch encoder
// resolves before it streams), chords, long gaps, soft and loud notes, meters.
Score random_score(std::mt19937& rng, int ticks_per_beat) {
  std::uniform_int_distribution<int> pitch(30, 90), velocity(1, 127), length(1, 30), gap(0, 20), chord(1, 4);
  std::uniform_int_distribution<int> long_gap(0, 40), source(0, 1);
  std::vector<Note> notes;
  std::array<long long, 128> free_at{};
  long long tick = 0;
  for (int i = 0; i < 200; ++i) {
    tick += gap(rng) + (long_gap(rng) == 0 ? 300 : 0);
    for (int c = chord(rng); c > 0; --c) {
      const int p = pitch(rng);
      if (free_at[p] > tick) continue;
      const long long end = tick + length(rng);
      free_at[p] = end;
      notes.push_back(make_note(p, static_cast<double>(tick) / ticks_per_beat,
                                static_cast<double>(end) / ticks_per_beat, velocity(rng), 0,
                                static_cast<std::uint8_t>(source(rng))));
    }
  }
  return make_score(notes, {{0, 4, 4}, {10, 3, 4}, {31, 6, 8}});
}

}  // namespace

TEST_CASE("streaming encoder, one event at a time, gives the batch encoder's tokens", "[unit]") {
  std::mt19937 rng(1234);
  for (const int ticks_per_beat : {12, 4, 24}) {
    CodecSettings settings;
    settings.ticks_per_beat = ticks_per_beat;
    const EventCodec codec(settings);
    for (int round = 0; round < 20; ++round) {
      const Score score = random_score(rng, ticks_per_beat);
      const auto marks = meter_marks(score.time_signatures, ticks_per_beat);
      const std::vector<Step> streamed = stream(settings, live_events(score, ticks_per_beat), marks);
      const EncodedSequence batch = codec.encode(score);
      REQUIRE(streamed.size() == batch.steps.size());
      for (std::size_t i = 0; i < streamed.size(); ++i) {
        INFO("step " << i << ": " << codec.describe(streamed[i]) << " vs " << codec.describe(batch.steps[i]));
        REQUIRE(streamed[i] == batch.steps[i]);
      }
    }
  }
}

TEST_CASE("streaming encoder: live quirks", "[unit]") {
  CodecSettings settings;
  const EventCodec codec(settings);
  std::array<Step, 16> buffer;
  StepWriter writer(buffer);
  EventEncoder encoder(settings);
  auto names = [&] {
    std::vector<std::string> out;
    for (const auto& step : writer.steps()) out.push_back(codec.describe(step));
    writer.clear();
    return out;
  };
  SECTION("a note-on for a sounding pitch retriggers; a stray note-off is ignored") {
    CHECK(encoder.note_on(0, 60, 100, 0, writer));
    CHECK(encoder.note_on(6, 60, 100, 0, writer));
    CHECK(encoder.note_off(8, 62, 0, writer));  // never on: nothing, time does not move
    CHECK(encoder.time() == 6);
    CHECK(names() ==
          std::vector<std::string>{"VELOCITY(24)", "NOTE_ON(60)", "SHIFT(6)", "NOTE_OFF(60)", "NOTE_ON(60)"});
  }
  SECTION("velocity 0 is a note-off; late events count as now; bad pitches are ignored") {
    CHECK(encoder.note_on(12, 60, 100, 0, writer));
    CHECK(encoder.note_on(10, 60, 0, 0, writer));  // late note-off
    CHECK(encoder.note_on(12, 128, 100, 0, writer));
    CHECK(encoder.note_off(12, -1, 0, writer));
    CHECK(names() == std::vector<std::string>{"SHIFT(12)", "VELOCITY(24)", "NOTE_ON(60)", "NOTE_OFF(60)"});
    CHECK_FALSE(encoder.sounding(60));
  }
  SECTION("a full buffer refuses the event whole and the retry completes it") {
    std::array<Step, 2> small;
    StepWriter tiny(small);
    CHECK(encoder.note_on(0, 60, 100, 0, tiny));
    tiny.clear();
    CHECK(encoder.note_on(0, 64, 20, 0, tiny));  // VELOCITY + NOTE_ON: exactly fits
    CHECK_FALSE(encoder.note_on(1, 67, 100, 0, tiny));
    CHECK(tiny.size() == 2);
    tiny.clear();
    CHECK_FALSE(encoder.note_on(1, 67, 100, 0, tiny));  // SHIFT(1) written, VELOCITY + NOTE_ON need 2
    CHECK(tiny.size() == 1);
    CHECK(encoder.time() == 1);
    tiny.clear();
    CHECK(encoder.note_on(1, 67, 100, 0, tiny));
    CHECK(tiny.size() == 2);
    encoder.reset();
    CHECK_FALSE(encoder.sounding(60));
    CHECK(encoder.time() == 0);
  }
}

TEST_CASE("every codec kind answers from the codec table", "[unit]") {
  for (const CodecKind kind : {CodecKind::kEvents, CodecKind::kPianoRoll}) {
    CodecSettings settings;
    settings.kind = kind;
    settings.steps_per_beat = 4;
    const auto codec = make_codec(settings);
    CHECK(codec_named(codec_name(kind)) == kind);
    CHECK(step_input_size(settings) == codec->input_size());
    CHECK(grid_per_beat(settings) == (kind == CodecKind::kEvents ? settings.ticks_per_beat : 4));
    CHECK(codec_names().find(std::string(codec_name(kind))) != std::string::npos);
  }
  CHECK(step_form(CodecKind::kEvents) == StepForm::kToken);
  CHECK(step_form(CodecKind::kPianoRoll) == StepForm::kFrame);
  CHECK_FALSE(codec_named("midi").has_value());
}

TEST_CASE("live streams: the events stream feeds what the streaming encoder writes", "[unit]") {
  CodecSettings settings;
  const EventCodec codec(settings);
  LiveStreamSlot slot;
  LiveStream& stream = make_live_stream(settings, slot);
  std::vector<std::string> fed;
  const auto feed = [&](const Step& s) { fed.push_back(codec.describe(s)); };
  CHECK(stream.grid_tick(2.5) == 3);  // the nearest tick, as the batch encoder rounds
  stream.note(0, 60, 100, 0, feed);
  stream.note(6, 60, 0, 0, feed);
  CHECK(fed == std::vector<std::string>{"VELOCITY(24)", "NOTE_ON(60)", "SHIFT(6)", "NOTE_OFF(60)"});
  fed.clear();
  stream.advance(6 + settings.max_shift_ticks - 1, 0, feed);  // shorter than a longest SHIFT: nothing yet
  CHECK(fed.empty());
  stream.advance(6 + settings.max_shift_ticks + 5, 0, feed);  // one longest SHIFT
  CHECK(fed == std::vector<std::string>{"SHIFT(" + std::to_string(settings.max_shift_ticks) + ")"});
  CHECK(stream.time() == 6 + settings.max_shift_ticks);
  CHECK(stream.next_step_tick() == std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("live streams: the pianoroll stream closes the open frame at its boundary", "[unit]") {
  CodecSettings settings;
  settings.kind = CodecKind::kPianoRoll;
  settings.steps_per_beat = 2;
  const PianoRollCodec codec(settings);
  LiveStreamSlot slot;
  LiveStream& stream = make_live_stream(settings, slot);
  const std::vector<MeterMark> marks{{0, 3}};
  stream.set_grid(marks, 0);
  std::vector<Step> fed;
  const auto feed = [&](const Step& s) { fed.push_back(s); };
  CHECK(stream.grid_tick(2.9) == 2);  // the frame the time falls in
  stream.note(0, 60, 100, 0, feed);
  stream.note(0, 62, 100, 0, feed);
  stream.note(0, 62, 0, 0, feed);  // struck and released in one frame: still in it
  CHECK(fed.empty());              // the frame is open
  CHECK(stream.next_step_tick() == 1);
  stream.note(2, 60, 0, 0, feed);
  stream.advance(7, 0, feed);
  REQUIRE(fed.size() == 7);
  CHECK(codec.describe(fed[0]) == "{60 62}");
  CHECK(codec.describe(fed[1]) == "{60}");
  CHECK(codec.describe(fed[2]) == "{}");
  CHECK(fed[6].beat_tick == 0);
  CHECK(fed[6].bar_beat == 0);  // frame 6: beat 3, a new bar of 3
  CHECK(fed[4].bar_beat == 2);
  stream.reset(20);
  CHECK(stream.time() == 20);
}

// ---- Pianoroll ---------------------------------------------------------------------

TEST_CASE("pianoroll: frames, positions, decode", "[unit]") {
  CodecSettings settings;
  settings.kind = CodecKind::kPianoRoll;
  settings.steps_per_beat = 2;
  const PianoRollCodec codec(settings);
  const Score score = make_score({make_note(60, 0, 1), make_note(64, 0.5, 2), make_note(108, 1.9, 2.0),
                                  make_note(20, 0, 1), make_note(109, 0, 1), make_note(21, 3, 3.1)},
                                 {{0, 3, 4}});
  const EncodedSequence encoded = codec.encode(score);
  REQUIRE(encoded.steps.size() == 7);  // up to 21's one frame at 3 beats
  CHECK(codec.describe(encoded.steps[0]) == "{60}");
  CHECK(codec.describe(encoded.steps[1]) == "{60 64}");
  CHECK(codec.describe(encoded.steps[3]) == "{64}");
  CHECK(codec.describe(encoded.steps[4]) == "{108}");  // 1.9..2.0 rounds to frames 4..3: one frame
  CHECK(codec.describe(encoded.steps[5]) == "{}");
  CHECK(codec.describe(encoded.steps[6]) == "{21}");
  std::vector<int> beat_ticks, bar_beats;
  for (const auto& step : encoded.steps) {
    CHECK(step.token == -1);
    beat_ticks.push_back(step.beat_tick);
    bar_beats.push_back(step.bar_beat);
  }
  CHECK(beat_ticks == std::vector<int>{0, 1, 0, 1, 0, 1, 0});
  CHECK(bar_beats == std::vector<int>{0, 0, 1, 1, 2, 2, 0});
  const Score decoded = codec.decode(encoded);
  REQUIRE(decoded.notes.size() == 4);
  CHECK(decoded.notes[0] == Note{60, 80, 0, 0, 0.0, 1.0, 0});
  CHECK(decoded.notes[1] == Note{64, 80, 0, 0, 0.5, 2.0, 0});
  CHECK(decoded.notes[2] == Note{108, 80, 0, 0, 2.0, 2.5, 0});
  CHECK(decoded.notes[3] == Note{21, 80, 0, 0, 3.0, 3.5, 0});
}

TEST_CASE("pianoroll: JSON -> frames -> notes -> frames is the identity on every piano-roll file", "[unit][data]") {
  const std::vector<std::pair<fs::path, int>> files = {{"jsb_chorales/jsb-chorales-quarter.json", 1},
                                                       {"jsb_chorales/jsb-chorales-8th.json", 2},
                                                       {"jsb_chorales/jsb-chorales-16th.json", 4},
                                                       {"jsb_chorales/Jsb16thSeparated.json", 4},
                                                       {"nottingham/nottingham-pianoroll-train.json", 2},
                                                       {"nottingham/nottingham-pianoroll-valid.json", 2},
                                                       {"musedata/musedata-pianoroll-train.json", 1},
                                                       {"musedata/musedata-pianoroll-valid.json", 1},
                                                       {"piano-midi.de/piano-midi.de-pianoroll-train.json", 1},
                                                       {"piano-midi.de/piano-midi.de-pianoroll-valid.json", 1}};
  for (const auto& [file, spb] : files) shared_data(file);  // all, or the test skips before it starts
  std::size_t sequences = 0;
  for (const auto& [file, spb] : files) {
    CodecSettings settings;
    settings.kind = CodecKind::kPianoRoll;
    settings.steps_per_beat = spb;
    const PianoRollCodec codec(settings);
    const EventCodec events(CodecSettings{});  // 12 ticks: every 1/1, 1/2, 1/4 beat lies on the grid
    for (const auto& [split, list] : load_pianoroll_json(shared_data(file), spb)) {
      for (const auto& sequence : list) {
        ++sequences;
        INFO(sequence.source);
        const Score notes = codec.decode(sequence);
        const EncodedSequence again = codec.encode(notes);
        // Trailing silence has no note to carry it; everything else is the same, positions included.
        REQUIRE(again.steps.size() <= sequence.steps.size());
        for (std::size_t f = 0; f < sequence.steps.size(); ++f) {
          const bool same =
              f < again.steps.size() ? again.steps[f] == sequence.steps[f] : sequence.steps[f].frame.none();
          if (!same) FAIL("frame " << f << " differs");
        }
        // And the same notes survive the events codec (piano-roll notes are on its grid).
        check_round_trip(events, notes);
      }
    }
  }
  CHECK(sequences == 4 * 382 + 694 + 173 + 524 + 135 + 87 + 12);
}

TEST_CASE("pianoroll: JSB 16th MIDI equals Jsb16thSeparated.json frames", "[unit][data]") {
  const auto json = load_pianoroll_json(shared_data("jsb_chorales/Jsb16thSeparated.json"), 4);
  const Extracted midi(shared_data("jsb_chorales/jsb-chorales-16th-satb-midi.tar.gz"));
  CodecSettings settings;
  settings.kind = CodecKind::kPianoRoll;
  settings.steps_per_beat = 4;
  const PianoRollCodec codec(settings);
  const fs::path dir = midi.root / "jsb-chorales-16th-satb-midi";
  for (const auto& [split, index] : std::vector<std::pair<std::string, int>>{
           {"train", 0}, {"train", 29}, {"train", 228}, {"valid", 7}, {"valid", 75}, {"test", 0}, {"test", 76}}) {
    char name[32];
    std::snprintf(name, sizeof name, "%s_%03d.mid", split.c_str(), index);
    INFO(name);
    const EncodedSequence from_midi = codec.encode(read_midi_file(dir / split / name));
    const EncodedSequence& expected = json.at(split).at(static_cast<std::size_t>(index));
    REQUIRE(from_midi.steps.size() <= expected.steps.size());
    for (std::size_t f = 0; f < expected.steps.size(); ++f) {
      INFO("frame " << f);
      if (f < from_midi.steps.size()) {
        REQUIRE(from_midi.steps[f].frame == expected.steps[f].frame);
      } else {
        REQUIRE(expected.steps[f].frame.none());
      }
    }
  }
}

// ---- Every MIDI (and ABC) file of the shared data through the events codec ----------

TEST_CASE("events: every MIDI file and ABC tune of the shared data round-trips up to the grid", "[unit][data]") {
  const fs::path jsb_archive = shared_data("jsb_chorales/jsb-chorales-16th-satb-midi.tar.gz");
  const fs::path nottingham_archive = shared_data("nottingham/nottingham-jukedeck-trainvalid.tar.gz");
  std::vector<fs::path> loose = files_with(shared_data("piano_performance"), {".mid"});
  for (const auto& f : files_with(shared_data("multitrack_pop"), {".mid"})) loose.push_back(f);
  const Extracted jsb(jsb_archive);
  // midi/ holds melody + chords; midi_melody/ and midi_chords/ are its tracks alone, so they add nothing here.
  const Extracted nottingham(nottingham_archive, {"*/midi/*", "*/abc/*"});
  std::vector<fs::path> all = loose;
  for (const auto* extracted : {&jsb, &nottingham}) {
    const auto more = files_with(extracted->root, {".mid"});
    all.insert(all.end(), more.begin(), more.end());
  }
  CHECK(loose.size() == 19);
  CHECK(all.size() == 19 + 382 + 827);

  CodecSettings with_drums;
  with_drums.include_drums = true;
  CodecSettings coarse;
  coarse.ticks_per_beat = 4;
  coarse.velocity_bins = 8;
  coarse.max_shift_ticks = 16;
  const std::array<EventCodec, 3> codecs = {EventCodec(CodecSettings{}), EventCodec(with_drums), EventCodec(coarse)};
  std::size_t notes = 0;
  for (const auto& path : all) {
    const Score score = read_midi_file(path);
    notes += score.notes.size();
    for (const auto& codec : codecs) check_round_trip(codec, score);
  }
  CHECK(notes > 100000);

  // ABC goes through one abc2midi run per file (~15 ms each): every 8th file keeps the test short.
  const auto abc = files_with(nottingham.root, {".abc"});
  CHECK(abc.size() == 827);
  for (std::size_t i = 0; i < abc.size(); i += 8) {
    for (const auto& tune : import_abc_file(abc[i])) check_round_trip(codecs[0], tune);
  }
}
