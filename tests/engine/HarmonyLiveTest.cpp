// Listening to harmony in the live engine, on the fake-clock rig with the
// bundled events model: sampling.key = "auto", sampling.chord_follow and the
// split keyboard ([midi] split_note, /nextbeat/split).
#include <cstdint>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "LiveFakes.h"
#include "config/Config.h"
#include "config/Controls.h"
#include "engine/live/LiveEngine.h"

using namespace nextbeat;
using namespace nextbeat::engine;

namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kBeat = 500 * kMs;  // 120 bpm

config::Config accompany(double chord_follow) {
  config::Config c;
  c.engine.mode = config::Mode::kAccompany;
  c.sampling.seed = 11;
  c.sampling.chord_follow = chord_follow;
  c.engine.max_note_beats = 2.0;
  c.engine.latency_budget_ms = 50;  // the fake clock stands still while the model computes
  return c;
}

// The pitch classes of nextbeat's note-ons after `from` (ns).
std::vector<int> own_pitch_classes(const test::Recorder& r, std::int64_t from) {
  std::vector<int> pcs;
  for (const auto& e : r.events)
    if (e.kind == OutputKind::kNoteOn && e.time_ns >= from) pcs.push_back(e.pitch % 12);
  return pcs;
}

double share_in(const std::vector<int>& pcs, std::set<int> classes) {
  if (pcs.empty()) return 0;
  double n = 0;
  for (int pc : pcs) n += classes.count(pc);
  return n / static_cast<double>(pcs.size());
}

// Split at middle C; a C major chord held low for `beats` beats, nothing else.
double c_chord_share(double chord_follow, std::optional<Chord>* chord = nullptr) {
  test::LiveRig rig(accompany(chord_follow));
  rig.control(config::Control::kSplit, 60);
  for (int p : {48, 52, 55}) rig.input(InputKind::kNoteOn, p, 80);
  const std::int64_t start = rig.clock.t() + 2 * kBeat;
  rig.run_until(rig.clock.t() + 24 * kBeat);
  if (chord != nullptr) *chord = rig.engine->chord();
  for (int p : {48, 52, 55}) rig.input(InputKind::kNoteOff, p);
  const auto pcs = own_pitch_classes(rig.recorder, start);
  INFO("chord_follow " << chord_follow << ": " << pcs.size() << " notes");
  CHECK(pcs.size() >= 10);
  return share_in(pcs, {0, 4, 7});
}

}  // namespace

TEST_CASE("harmony: split keyboard, a held low C-E-G is C major and nextbeat favours C, E, G",
          "[unit][live][harmony]") {
  std::optional<Chord> chord;
  const double followed = c_chord_share(3.0, &chord);
  const double ignored = c_chord_share(0.0);
  REQUIRE(chord);
  CHECK(*chord == Chord{0, false});
  INFO("share of C/E/G: " << followed << " with chord_follow 3, " << ignored << " with it off");
  CHECK(followed >= 0.7);
  CHECK(followed > ignored + 0.1);
}

TEST_CASE("harmony: chord hints are not melody: not fed to the model, not held against nextbeat",
          "[unit][live][harmony]") {
  auto c = accompany(2.0);
  c.midi.split_note = 60;
  c.engine.mode = config::Mode::kContinue;
  test::LiveRig rig(c);
  CHECK(rig.engine->settings().split_note == 60);
  const auto steps = rig.engine->stats().model_steps.load();
  rig.engine->handle(InputEvent{.time_ns = rig.clock.t(), .kind = InputKind::kNoteOn, .a = 48, .b = 80});
  CHECK(rig.engine->stats().model_steps.load() == steps);  // a melody note would have stepped the model
  rig.engine->handle(InputEvent{.time_ns = rig.clock.t(), .kind = InputKind::kNoteOn, .a = 64, .b = 80});
  CHECK(rig.engine->stats().model_steps.load() > steps);
  rig.engine->handle(InputEvent{.time_ns = rig.clock.t(), .kind = InputKind::kNoteOff, .a = 64});
  // Continue mode: a held chord hint is not the performer playing on, so nextbeat continues after the gap.
  rig.run_until(rig.clock.t() + 8 * kBeat);
  CHECK(rig.recorder.notes_on() > 0);
  // The split moved while the hint is held: its note-off still ends a hint.
  rig.control(config::Control::kSplit, 0);
  const auto before = rig.engine->stats().model_steps.load();
  rig.engine->handle(InputEvent{.time_ns = rig.clock.t(), .kind = InputKind::kNoteOff, .a = 48});
  CHECK(rig.engine->stats().model_steps.load() == before);
}

TEST_CASE("harmony: key auto follows an A minor melody, echoes it, and keeps nextbeat in A minor",
          "[unit][live][harmony]") {
  auto c = accompany(0.0);
  c.sampling.key = config::kKeyAuto;
  test::LiveRig rig(c);
  static constexpr int kTune[] = {69, 72, 76, 72, 71, 68, 69, 64, 69, 71, 72, 74, 71, 68, 69, 76};
  std::int64_t from = 0;
  for (int round = 0; round < 2; ++round) {
    for (int p : kTune) {
      rig.input(InputKind::kNoteOn, p, 90);
      rig.run_until(rig.clock.t() + 450 * kMs);
      rig.input(InputKind::kNoteOff, p);
      rig.run_until(rig.clock.t() + 50 * kMs);
    }
    if (round == 0) from = rig.clock.t() + kBeat;  // from here on the key is known
  }
  REQUIRE(rig.engine->detected_key());
  CHECK(*rig.engine->detected_key() == DetectedKey{9, true});
  Notification n;
  bool echoed = false;
  while (rig.engine->pop_notification(n))
    if (n.kind == Notification::Kind::kKeyDetected) echoed = n.value == 9 && n.minor;
  CHECK(echoed);
  const auto pcs = own_pitch_classes(rig.recorder, from);
  REQUIRE(pcs.size() >= 8);
  CHECK(share_in(pcs, {9, 11, 0, 2, 4, 5, 7, 8}) == 1.0);  // A natural minor and its leading tone G#
}
