// A full output queue never loses the end of a note (issue 12, item 7).
#include <catch2/catch.hpp>

#include "engine/queues/OutputGuard.h"

using namespace nextbeat::engine;

namespace {

OutputEvent note(OutputKind kind, int pitch, std::int64_t t, int channel = 0) {
  return OutputEvent{.time_ns = t,
                     .kind = kind,
                     .channel = static_cast<std::uint8_t>(channel),
                     .pitch = static_cast<std::uint8_t>(pitch),
                     .velocity = static_cast<std::uint8_t>(kind == OutputKind::kNoteOn ? 90 : 0)};
}

std::vector<OutputEvent> drain(SpscQueue<OutputEvent>& queue) {
  std::vector<OutputEvent> out;
  OutputEvent e;
  while (queue.pop(e)) out.push_back(e);
  return out;
}

}  // namespace

TEST_CASE("a full output queue owes note-offs and sends them before anything else", "[unit][queues]") {
  // moodycamel rounds the capacity up; fill it until it refuses.
  SpscQueue<OutputEvent> queue(4);
  OutputGuard guard(queue);
  int filled = 0;
  while (queue.try_push(note(OutputKind::kBeat, 0, 0))) ++filled;
  REQUIRE(filled >= 4);

  CHECK(guard.push(note(OutputKind::kNoteOff, 60, 100)));     // owed, not lost
  CHECK(guard.push(note(OutputKind::kNoteOff, 64, 200, 3)));  // another channel
  CHECK(guard.owes());
  CHECK_FALSE(guard.push(note(OutputKind::kNoteOn, 67, 300)));  // dropped: a note not started cannot hang
  CHECK(guard.dropped() == 1);
  CHECK(queue.dropped() == 0);  // nothing counted twice

  OutputEvent e;
  REQUIRE(queue.pop(e));  // the output thread makes room for one
  // A note-on finding ends still owed is dropped (it must not overtake them),
  // but the push sends the first owed end.
  CHECK_FALSE(guard.push(note(OutputKind::kNoteOn, 60, 400)));
  drain(queue);
  CHECK(guard.flush());
  CHECK_FALSE(guard.owes());
  const auto sent = drain(queue);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].kind == OutputKind::kNoteOff);
  CHECK(sent[0].channel == 3);
  CHECK(sent[0].pitch == 64);
  CHECK(sent[0].time_ns == 200);

  CHECK(guard.push(note(OutputKind::kNoteOn, 72, 500)));  // room again: plays
  CHECK(drain(queue).size() == 1);
}

TEST_CASE("an owed all-notes-off replaces the owed note-offs and goes out first", "[unit][queues]") {
  SpscQueue<OutputEvent> queue(4);
  OutputGuard guard(queue);
  while (queue.try_push(note(OutputKind::kBeat, 0, 0))) {
  }
  for (int p = 40; p < 100; ++p) CHECK(guard.push(note(OutputKind::kNoteOff, p, p)));
  CHECK(guard.push(OutputEvent{.time_ns = 1000, .kind = OutputKind::kAllNotesOff}));
  drain(queue);
  CHECK(guard.flush());
  const auto sent = drain(queue);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].kind == OutputKind::kAllNotesOff);
  CHECK(sent[0].time_ns == 1000);
}

TEST_CASE("a retune that finds the queue full owes an all-notes-off: a gap, never a stuck note", "[unit][queues]") {
  SpscQueue<OutputEvent> queue(4);
  OutputGuard guard(queue);
  while (queue.try_push(note(OutputKind::kBeat, 0, 0))) {
  }
  OutputEvent retune = note(OutputKind::kRetune, 61, 500);
  retune.to_pitch = 60;
  CHECK(guard.push(retune));
  CHECK(guard.owes());
  drain(queue);
  CHECK(guard.flush());
  const auto sent = drain(queue);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].kind == OutputKind::kAllNotesOff);
}

TEST_CASE("every owed note-off of every key and channel gets through", "[unit][queues]") {
  SpscQueue<OutputEvent> queue(8);
  OutputGuard guard(queue);
  while (queue.try_push(note(OutputKind::kBeat, 0, 0))) {
  }
  for (int c = 0; c < 16; ++c)
    for (int p = 0; p < 128; ++p) REQUIRE(guard.push(note(OutputKind::kNoteOff, p, c * 128 + p, c)));
  std::vector<OutputEvent> sent;
  for (int round = 0; round < 10'000 && guard.owes(); ++round) {
    for (auto& e : drain(queue))
      if (e.kind == OutputKind::kNoteOff) sent.push_back(e);
    guard.flush();
  }
  for (auto& e : drain(queue)) sent.push_back(e);
  REQUIRE(sent.size() == 16 * 128);
  for (const auto& e : sent) CHECK(e.time_ns == e.channel * 128 + e.pitch);
}
