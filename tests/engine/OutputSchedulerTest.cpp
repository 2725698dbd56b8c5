#include <catch2/catch.hpp>

#include <vector>

#include "LiveFakes.h"
#include "engine/live/OutputScheduler.h"

using namespace nextbeat::engine;

namespace {
using nextbeat::test::Recorder;

OutputEvent note(std::int64_t t, bool on, int pitch) {
  return OutputEvent{.time_ns = t,
                     .kind = on ? OutputKind::kNoteOn : OutputKind::kNoteOff,
                     .pitch = static_cast<std::uint8_t>(pitch),
                     .velocity = static_cast<std::uint8_t>(on ? 90 : 0)};
}
}  // namespace

TEST_CASE("events play at their time, in time order", "[unit][live]") {
  Recorder r;
  OutputScheduler s(r);
  s.add(note(300, true, 62), 0);
  s.add(note(100, true, 60), 0);
  s.add(note(200, false, 60), 0);
  CHECK(s.next_due() == 100);
  s.play_due(150);
  REQUIRE(r.events.size() == 1);
  s.play_due(1000);
  REQUIRE(r.events.size() == 3);
  CHECK(r.events[1].kind == OutputKind::kNoteOff);
  CHECK(r.events[2].pitch == 62);
  CHECK(s.sounding() == 1);
  CHECK(s.max_lateness_ns() == 800);  // the note-off due at 200, played at 1000
}

TEST_CASE("a cancel drops what is pending and ends what sounds", "[unit][live]") {
  Recorder r;
  OutputScheduler s(r);
  s.add(note(100, true, 60), 0);
  s.add(note(900, false, 60), 0);
  s.add(note(500, true, 64), 0);
  s.play_due(200);
  s.add(OutputEvent{.time_ns = 300, .kind = OutputKind::kAllNotesOff}, 300);
  CHECK(s.pending() == 0);
  CHECK(s.sounding() == 0);
  REQUIRE(r.events.size() == 3);  // on 60, off 60, all-notes-off
  CHECK(r.events[1].kind == OutputKind::kNoteOff);
  CHECK(r.events[1].pitch == 60);
}

TEST_CASE("a retrigger ends the sounding note first; a stray note-off is not sent", "[unit][live]") {
  Recorder r;
  OutputScheduler s(r);
  s.add(note(100, true, 60), 0);
  s.add(note(200, true, 60), 0);
  s.add(note(300, false, 61), 0);
  s.play_due(1000);
  REQUIRE(r.events.size() == 3);
  CHECK(r.events[1].kind == OutputKind::kNoteOff);
  CHECK(r.events[2].kind == OutputKind::kNoteOn);
  s.release_all(2000);
  CHECK(s.sounding() == 0);
}

TEST_CASE("after a stall, stale note-ons and beats are skipped and counted; note-offs play", "[unit][live]") {
  Recorder r;
  OutputScheduler s(r);
  constexpr std::int64_t kMs = 1'000'000;
  s.add(note(100 * kMs, true, 60), 0);
  s.play_due(100 * kMs);  // 60 sounds
  s.add(note(200 * kMs, false, 60), 0);
  s.add(note(300 * kMs, true, 62), 0);
  s.add(note(400 * kMs, false, 62), 0);
  s.add(OutputEvent{.time_ns = 300 * kMs, .kind = OutputKind::kBeat}, 0);
  s.add(note(5'050 * kMs, true, 64), 0);
  s.play_due(5'100 * kMs);  // 5 s stopped: 300 ms due is 4.8 s stale
  REQUIRE(r.events.size() == 3);
  CHECK(r.events[1].kind == OutputKind::kNoteOff);  // 60 ends
  CHECK(r.events[1].pitch == 60);
  CHECK(r.events[2].pitch == 64);  // 50 ms late: still played
  CHECK(s.stale() == 2);           // the note-on of 62 and the beat; 62's note-off is not sent
  CHECK(s.sounding() == 1);
}
