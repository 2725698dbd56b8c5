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

TEST_CASE("a retrigger ends the sounding note first, a stray note-off is not sent", "[unit][live]") {
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

TEST_CASE("after a stall, stale note-ons and beats are skipped and counted, note-offs play", "[unit][live]") {
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

TEST_CASE("a retune moves a pending note and its note-off, one just played is ended and restarted", "[unit][live]") {
  const auto retune = [](std::int64_t t, int from, int to) {
    return OutputEvent{.time_ns = t,
                       .kind = OutputKind::kRetune,
                       .pitch = static_cast<std::uint8_t>(from),
                       .velocity = 70,
                       .to_pitch = static_cast<std::uint8_t>(to)};
  };
  Recorder r;
  OutputScheduler s(r);
  s.add(note(100, true, 61), 0);
  s.add(note(400, false, 61), 0);
  s.add(note(500, true, 61), 0);  // a later note of the same key stays as it was
  s.add(note(600, false, 61), 0);
  s.add(retune(100, 61, 60), 50);
  s.play_due(1000);
  REQUIRE(r.events.size() == 4);
  CHECK(r.events[0].pitch == 60);
  CHECK(r.events[1].pitch == 60);
  CHECK(r.events[1].kind == OutputKind::kNoteOff);
  CHECK(r.events[2].pitch == 61);
  CHECK(r.events[3].pitch == 61);
  CHECK(s.sounding() == 0);
  CHECK(r.sounding.empty());

  // Played already: it ends now and the new pitch starts now; its note-off, pending or to come, ends that.
  Recorder q;
  OutputScheduler t(q);
  t.add(note(100, true, 66), 0);
  t.add(note(900, false, 66), 0);
  t.play_due(110);
  t.add(retune(100, 66, 67), 120);
  REQUIRE(q.events.size() == 3);
  CHECK(q.events[1].kind == OutputKind::kNoteOff);
  CHECK(q.events[1].pitch == 66);
  CHECK(q.events[2].kind == OutputKind::kNoteOn);
  CHECK(q.events[2].pitch == 67);
  CHECK(q.events[2].velocity == 70);
  t.play_due(1000);
  CHECK(q.events.back().kind == OutputKind::kNoteOff);
  CHECK(q.events.back().pitch == 67);
  CHECK(q.sounding.empty());
  // A retune of a note that never sounded (dropped, stale) starts nothing.
  t.add(retune(2000, 50, 51), 2100);
  CHECK(t.sounding() == 0);
  CHECK(q.sounding.empty());
}

TEST_CASE("a retune to silence: a pending note never sounds, one just played ends now", "[unit][live]") {
  const OutputEvent silence{
      .time_ns = 100, .kind = OutputKind::kRetune, .pitch = 61, .velocity = 70, .to_pitch = kRetuneSilence};
  Recorder r;
  OutputScheduler s(r);
  s.add(note(100, true, 61), 0);
  s.add(note(400, false, 61), 0);
  s.add(note(200, true, 64), 0);
  s.add(silence, 50);
  s.play_due(1000);
  REQUIRE(r.events.size() == 1);  // only the other note's note-on: no 61 on, no stray 61 off
  CHECK(r.events[0].pitch == 64);

  Recorder q;
  OutputScheduler t(q);
  t.add(note(100, true, 61), 0);
  t.add(note(400, false, 61), 0);
  t.play_due(110);
  t.add(silence, 120);
  REQUIRE(q.events.size() == 2);
  CHECK(q.events[1].kind == OutputKind::kNoteOff);
  CHECK(q.events[1].time_ns == 120);
  t.play_due(1000);
  CHECK(q.events.size() == 2);  // its own note-off finds it ended
  CHECK(t.sounding() == 0);
}
