// The take recorder: the file it writes, read back by nextbeat's own reader
// (engine/music/MidiFile), and the writer thread's flushes.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/live/TakeRecorder.h"
#include "engine/music/MidiFile.h"
#include "engine/queues/SteadyTime.h"
#include "engine/util/TempDirectory.h"

using namespace nextbeat::engine;

namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kStart = 10'000 * kMs;

TakeEvent note(std::int64_t t, TakeEvent::Part part, int pitch, int velocity, int channel = 0) {
  return TakeEvent{.time_ns = t,
                   .kind = velocity > 0 ? TakeEvent::Kind::kNoteOn : TakeEvent::Kind::kNoteOff,
                   .part = part,
                   .channel = static_cast<std::uint8_t>(channel),
                   .pitch = static_cast<std::uint8_t>(pitch),
                   .velocity = static_cast<std::uint8_t>(velocity)};
}
TakeEvent beat(std::int64_t t, std::int64_t number) {
  return TakeEvent{.time_ns = t, .kind = TakeEvent::Kind::kBeat, .part = TakeEvent::Part::kNextbeat, .beat = number};
}

// The track names of a format 1 file, in order ("" for a track without one).
std::vector<std::string> track_names(const std::vector<std::uint8_t>& bytes) {
  std::vector<std::string> names;
  std::size_t at = 14;
  while (at + 8 <= bytes.size()) {
    const std::size_t length = std::size_t{bytes[at + 4]} << 24 | std::size_t{bytes[at + 5]} << 16 |
                               std::size_t{bytes[at + 6]} << 8 | bytes[at + 7];
    const std::size_t body = at + 8;
    std::string name;
    if (length >= 4 && bytes[body] == 0 && bytes[body + 1] == 0xFF && bytes[body + 2] == 0x03)
      name.assign(bytes.begin() + static_cast<std::ptrdiff_t>(body + 4),
                  bytes.begin() + static_cast<std::ptrdiff_t>(body + 4 + bytes[body + 3]));
    names.push_back(name);
    at = body + length;
  }
  return names;
}

}  // namespace

TEST_CASE("a take: named tracks, both parts, the tempo map as played, every note ended", "[unit][record]") {
  Take take(kStart, 120.0, 4);
  // Beats 2..9 of the clock: 120 bpm (500 ms) for four, then 150 bpm (400 ms).
  std::int64_t t = kStart + 200 * kMs;
  for (int b = 2; b < 10; ++b) {
    take.add(beat(t, b));
    t += b < 5 ? 500 * kMs : 400 * kMs;
  }
  using Part = TakeEvent::Part;
  take.add(note(kStart + 200 * kMs, Part::kPerformer, 60, 90));  // on beat 2
  take.add(note(kStart + 450 * kMs, Part::kPerformer, 60, 0));   // half a beat later
  take.add(note(kStart + 450 * kMs, Part::kPerformer, 61, 0));   // an off of nothing sounding: left out
  take.add(note(kStart + 700 * kMs, Part::kNextbeat, 67, 80));   // beat 3
  take.add(note(kStart + 1200 * kMs, Part::kNextbeat, 67, 0));   // beat 4
  take.add(note(kStart + 1700 * kMs, Part::kNextbeat, 72, 70));  // beat 5, the first at 150 bpm
  take.add(note(kStart + 2100 * kMs, Part::kNextbeat, 74, 70));  // beat 6, then all notes off:
  take.add(TakeEvent{.time_ns = kStart + 2300 * kMs, .kind = TakeEvent::Kind::kAllNotesOff, .part = Part::kNextbeat});
  take.add(note(kStart + 2500 * kMs, Part::kPerformer, 64, 100, 3));  // beat 7, still held at the end
  CHECK(take.notes(Part::kPerformer) == 2);
  CHECK(take.notes(Part::kNextbeat) == 3);

  const std::int64_t end = kStart + 2700 * kMs;  // beat 7.5
  const auto bytes = take.smf(end);
  CHECK(track_names(bytes) == std::vector<std::string>{"tempo", "performer", "nextbeat"});
  const Score score = parse_midi(bytes, "take");
  REQUIRE(score.notes.size() == 5);
  // The clock's beat 2 is the file's beat 2 (bar lines where the clock's are).
  const auto find = [&](int pitch) {
    for (const Note& n : score.notes)
      if (n.pitch == pitch) return n;
    FAIL("pitch " << pitch << " missing");
    return Note{};
  };
  CHECK(find(60).track == 1);
  CHECK(find(60).start_beat == Approx(2.0));
  CHECK(find(60).end_beat == Approx(2.5));
  CHECK(find(67).track == 2);
  CHECK(find(67).start_beat == Approx(3.0));
  CHECK(find(67).end_beat == Approx(4.0));
  CHECK(find(72).start_beat == Approx(5.0));
  CHECK(find(72).end_beat == Approx(6.5));  // the all-notes-off, half a 400 ms beat after beat 6
  CHECK(find(74).end_beat == Approx(6.5));
  CHECK(find(64).channel == 3);
  CHECK(find(64).end_beat == Approx(7.5));  // still held: ended at the end of the take
  REQUIRE(score.tempo_map.size() >= 2);
  CHECK(score.tempo_map.front().bpm == Approx(120.0).epsilon(0.001));
  CHECK(score.tempo_map.back().bpm == Approx(150.0).epsilon(0.001));
  CHECK(score.tempo_map.back().beat == Approx(5.0));
  REQUIRE(!score.time_signatures.empty());
  CHECK(score.time_signatures.front().numerator == 4);
}

TEST_CASE("a take with no beats (the clock stopped) is timed at the configured tempo", "[unit][record]") {
  Take take(kStart, 90.0, 3);
  take.add(note(kStart + 1000 * kMs, TakeEvent::Part::kPerformer, 62, 80));
  take.add(note(kStart + 2000 * kMs, TakeEvent::Part::kPerformer, 62, 0));
  const Score score = parse_midi(take.smf(kStart + 3000 * kMs), "take");
  REQUIRE(score.notes.size() == 1);
  CHECK(score.notes[0].start_beat == Approx(1.5));
  CHECK(score.notes[0].end_beat == Approx(3.0));
  CHECK(score.tempo_map.front().bpm == Approx(90.0).epsilon(0.001));
}

TEST_CASE("the writer thread: flushes a complete file while recording, closes it on stop", "[unit][record]") {
  const TempDirectory dir("nextbeat-take-test");
  const auto path = dir.path() / "take.mid";
  TakeTap tap;
  // Disarmed, the tap takes nothing.
  tap.performer(InputEvent{.time_ns = steady_now_ns(), .kind = InputKind::kNoteOn, .a = 50, .b = 90});
  TakeEvent leftover;
  CHECK_FALSE(tap.pop_performer(leftover));

  TakeWriter writer(path, tap, 120.0, 4, 100 * kMs);
  REQUIRE(std::filesystem::exists(path));  // written at once: a path that cannot be written fails at start
  CHECK(read_midi_file(path).notes.empty());
  const std::int64_t t0 = steady_now_ns();
  tap.performer(InputEvent{.time_ns = t0, .kind = InputKind::kNoteOn, .channel = 0, .a = 60, .b = 90});
  tap.emit(OutputEvent{.time_ns = t0, .kind = OutputKind::kBeat, .beat = 0});
  tap.emit(OutputEvent{.time_ns = t0 + kMs, .kind = OutputKind::kNoteOn, .pitch = 72, .velocity = 80});
  tap.emit(OutputEvent{.time_ns = t0 + 2 * kMs, .kind = OutputKind::kClock});  // not part of the take
  // Flushed within the period, though nothing was stopped: a crash now keeps these notes, both ended.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Score flushed;
  while (std::chrono::steady_clock::now() < deadline) {
    flushed = read_midi_file(path);
    // last_flush_ns is set once the rename and the directory's fsync are done: a moment after the file shows.
    if (flushed.notes.size() == 2 && writer.last_flush_ns() > t0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(flushed.notes.size() == 2);
  CHECK(writer.last_flush_ns() > t0);
  tap.performer(InputEvent{.time_ns = steady_now_ns(), .kind = InputKind::kNoteOff, .channel = 0, .a = 60});
  const auto summary = writer.stop();
  CHECK(summary.error.empty());
  CHECK(summary.performer_notes == 1);
  CHECK(summary.nextbeat_notes == 1);
  CHECK_FALSE(tap.armed());
  const Score closed = read_midi_file(path);
  REQUIRE(closed.notes.size() == 2);
  for (const Note& n : closed.notes) CHECK(n.end_beat > n.start_beat);
  CHECK(tap.dropped() == 0);
}

TEST_CASE("a full tap drops and counts, never blocks", "[unit][record]") {
  TakeTap tap;
  tap.arm(true);  // armed with no writer draining it
  // The queue holds at least kCapacity (moodycamel rounds its blocks up): four times that overflows it.
  constexpr std::size_t kPushed = 4 * TakeTap::kCapacity;
  for (std::size_t i = 0; i < kPushed; ++i)
    tap.emit(OutputEvent{.time_ns = static_cast<std::int64_t>(i), .kind = OutputKind::kNoteOff, .pitch = 1});
  std::size_t held = 0;
  TakeEvent e;
  while (tap.pop_played(e)) ++held;
  CHECK(held >= TakeTap::kCapacity);
  CHECK(tap.dropped() > 0);
  CHECK(held + tap.dropped() == kPushed);
}
