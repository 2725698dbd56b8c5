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
