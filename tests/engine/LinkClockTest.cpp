// [clock] source = "link": the beat clock and the live engine following an
// Ableton Link session, with a fake session (FakeLink) in place of Link and
// the fake clock; tests/cli/link_test.sh runs the real Link with a real peer.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "LiveFakes.h"
#include "config/Config.h"
#include "config/Controls.h"
#include "engine/live/BeatClock.h"
#include "engine/live/LinkTimeline.h"
#include "engine/live/LiveEngine.h"
#include "engine/model/Model.h"

using namespace nextbeat;
using namespace nextbeat::engine;

namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kT0 = 1'000'000'000;

// Two roundings of the same line: within a few ns.
bool same_ns(std::int64_t a, std::int64_t b) {
  return std::llabs(a - b) <= 2;
}

// A session's timeline, as Link keeps it: a line from an origin at a tempo;
// a tempo change keeps the beat at its moment. What nextbeat proposes is
// recorded and applied, as Link's commit does locally.
class FakeLink final : public LinkTimeline {
 public:
  FakeLink(double bpm, double beat_at_t0) : tempo_(bpm), origin_beat_(beat_at_t0) {}

  LinkSnapshot capture(std::int64_t now_ns) noexcept override {
    return LinkSnapshot{.time_ns = now_ns, .beat = beat_at(now_ns), .tempo_bpm = tempo_, .playing = playing};
  }
  void propose_tempo(double bpm, std::int64_t at_ns) noexcept override {
    proposals.emplace_back(bpm, at_ns);
    set_tempo(bpm, at_ns);
  }

  // Another peer's doing.
  void set_tempo(double bpm, std::int64_t at_ns) {
    origin_beat_ = beat_at(at_ns);
    origin_ns_ = at_ns;
    tempo_ = bpm;
  }
  void shift(double beats) { origin_beat_ += beats; }
  double beat_at(std::int64_t t) const { return origin_beat_ + static_cast<double>(t - origin_ns_) * tempo_ / 60e9; }
  std::int64_t time_at(double beat) const {
    return origin_ns_ + static_cast<std::int64_t>(std::llround((beat - origin_beat_) * 60e9 / tempo_));
  }
  double tempo() const { return tempo_; }

  bool playing = true;
  std::vector<std::pair<double, std::int64_t>> proposals;

 private:
  double tempo_;
  double origin_beat_;
  std::int64_t origin_ns_ = kT0;
};

}  // namespace

TEST_CASE("joining a Link session takes its tempo and beat and proposes nothing", "[unit][link]") {
  FakeLink link(90, 3.25);
  BeatClock clock(120, kT0);
  clock.use_link(&link, 0, kT0);
  CHECK(clock.link());
  CHECK(clock.tempo_bpm() == Approx(90));
  CHECK(clock.beat_at(kT0) == Approx(3.25));
  CHECK(clock.beat_at(kT0 + 2000 * kMs) == Approx(6.25));
  CHECK(same_ns(clock.time_of(4.0), link.time_at(4.0)));
  CHECK(clock.running());
  CHECK(link.proposals.empty());
  CHECK(!clock.follow_link(kT0 + 5 * kMs).tempo);
}

TEST_CASE("the output latency is compensated: events are stamped early by it", "[unit][link]") {
  FakeLink link(120, 0);
  BeatClock clock(120, kT0);
  const std::int64_t latency = 12 * kMs;
  clock.use_link(&link, latency, kT0);
  // What is stamped t is heard at t + latency, on the session's beat then.
  for (const std::int64_t t : {kT0, kT0 + 333 * kMs, kT0 + 7000 * kMs})
    CHECK(clock.beat_at(t) == Approx(link.beat_at(t + latency)).margin(1e-9));
  CHECK(same_ns(clock.time_of(8.0), link.time_at(8.0) - latency));
  (void)clock.follow_link(kT0 + 100 * kMs);
  CHECK(same_ns(clock.time_of(8.0), link.time_at(8.0) - latency));
}

TEST_CASE("a peer's tempo change is followed at the next turn, the beat continuous", "[unit][link]") {
  FakeLink link(90, 0);
  BeatClock clock(120, kT0);
  clock.use_link(&link, 0, kT0);
  const std::int64_t change = kT0 + 1000 * kMs;
  link.set_tempo(130, change);
  const auto seen = clock.follow_link(change + 5 * kMs);
  CHECK(seen.tempo);
  CHECK(!seen.jumped);
  CHECK(clock.tempo_bpm() == Approx(130));
  CHECK(same_ns(clock.time_of(4.0), link.time_at(4.0)));
  CHECK(clock.beat_at(change + 5 * kMs) == Approx(link.beat_at(change + 5 * kMs)));
  // Nothing new: no change reported.
  const auto again = clock.follow_link(change + 10 * kMs);
  CHECK(!again.tempo);
  CHECK(!again.jumped);
}

TEST_CASE("a move of the session's beat is a jump, start/stop sync stops and starts the clock", "[unit][link]") {
  FakeLink link(120, 0);
  BeatClock clock(120, kT0);
  clock.use_link(&link, 0, kT0);
  link.shift(1.5);
  auto seen = clock.follow_link(kT0 + 10 * kMs);
  CHECK(seen.jumped);
  CHECK(clock.beat_at(kT0 + 10 * kMs) == Approx(link.beat_at(kT0 + 10 * kMs)));

  link.playing = false;
  seen = clock.follow_link(kT0 + 20 * kMs);
  CHECK(seen.stopped);
  CHECK(!clock.running());
  link.playing = true;
  seen = clock.follow_link(kT0 + 30 * kMs);
  CHECK(seen.started);
  CHECK(clock.running());
}

TEST_CASE("a tempo set or tapped on Link is proposed to the session at the heard moment", "[unit][link]") {
  FakeLink link(90, 0);
  BeatClock clock(120, kT0);
  const std::int64_t latency = 10 * kMs;
  clock.use_link(&link, latency, kT0);
  const std::int64_t now = kT0 + 500 * kMs;
  const double beat = clock.beat_at(now);
  clock.set_tempo(100, now);
  REQUIRE(link.proposals.size() == 1);
  CHECK(link.proposals[0].first == 100);
  CHECK(link.proposals[0].second == now + latency);
  CHECK(clock.beat_at(now) == Approx(beat));  // the position does not move
  CHECK(link.tempo() == 100);
  CHECK(!clock.follow_link(now + kMs).tempo);  // the session now says what we said

  // The session's own tempo, clamped as the settings hold it, is no change.
  link.set_tempo(500, now + 2 * kMs);
  (void)clock.follow_link(now + 3 * kMs);
  clock.set_tempo(BeatClock::kMaxTempo, now + 4 * kMs);
  CHECK(link.proposals.size() == 1);

  // Tap tempo: four taps 600 ms apart propose 100 bpm.
  link.set_tempo(90, now + 5 * kMs);
  (void)clock.follow_link(now + 6 * kMs);
  bool changed = false;
  for (int i = 0; i < 4; ++i) changed = clock.tap(now + 1000 * kMs + i * 600 * kMs);
  CHECK(changed);
  CHECK(link.proposals.back().first == Approx(100));
}

TEST_CASE("leaving Link for the MIDI clock or the internal clock goes on from the session's position", "[unit][link]") {
  FakeLink link(90, 2);
  BeatClock clock(120, kT0);
  clock.use_link(&link, 0, kT0);
  const double beat = clock.beat_at(kT0 + 100 * kMs);
  clock.use_link(nullptr, 0, kT0 + 100 * kMs);
  CHECK(!clock.link());
  CHECK(clock.beat_at(kT0 + 100 * kMs) == Approx(beat));
  CHECK(clock.tempo_bpm() == Approx(90));
  clock.set_tempo(110, kT0 + 200 * kMs);
  CHECK(link.proposals.empty());
  clock.use_link(&link, 0, kT0 + 300 * kMs);
  clock.use_midi_clock(true, kT0 + 400 * kMs);
  CHECK(!clock.link());
}

// ---- The live engine on Link -------------------------------------------------------

namespace {

// The engine as the daemon builds it on Link, driven 1 ms a turn.
struct LinkRig {
  LinkRig(const config::Config& config, FakeLink& link) : session(link) {
    clock.set(kT0);
    engine =
        std::make_unique<LiveEngine>(std::make_unique<LstmModel>(LstmModel::load(resolve_model_path("default:events"))),
                                     config, recorder, clock, &link);
  }
  void run_until(std::int64_t until) {
    while (clock.t() < until) {
      clock.set(std::min(until, clock.t() + kMs));
      engine->advance();
    }
  }
  void control(config::Control id, double value) {
    engine->handle(InputEvent{
        .time_ns = clock.t(), .kind = InputKind::kControl, .control = static_cast<std::uint8_t>(id), .value = value});
    engine->advance();
  }
  std::vector<OutputEvent> beats() const {
    std::vector<OutputEvent> out;
    for (const auto& e : recorder.events)
      if (e.kind == OutputKind::kBeat) out.push_back(e);
    return out;
  }
  FakeLink& session;
  test::FakeClock clock;
  test::Recorder recorder;
  std::unique_ptr<LiveEngine> engine;
};

config::Config link_config() {
  config::Config c;
  c.clock.source = config::ClockSource::kLink;
  c.clock.tempo_bpm = 120;  // the config's tempo: not the session's, and never proposed on joining
  c.clock.link_latency_ms = 5;
  c.engine.latency_budget_ms = 50;
  c.sampling.seed = 3;
  return c;
}

}  // namespace

TEST_CASE("the engine on Link plays the session's beats, early by the latency, and proposes nothing on joining",
          "[unit][link][live]") {
  FakeLink link(90, 0.5);
  LinkRig rig(link_config(), link);
  CHECK(rig.engine->settings().clock.tempo_bpm == Approx(90));
  rig.run_until(kT0 + 4000 * kMs);
  CHECK(link.proposals.empty());
  const auto beats = rig.beats();
  REQUIRE(beats.size() >= 5);
  for (const auto& b : beats) CHECK(same_ns(b.time_ns, link.time_at(static_cast<double>(b.beat)) - 5 * kMs));
  CHECK(beats.front().beat == 1);  // the session's next beat, not the engine's own count
  CHECK(rig.engine->stats().misses == 0);
}

TEST_CASE("the engine follows a peer's tempo change within a beat and echoes it", "[unit][link][live]") {
  FakeLink link(90, 0);
  LinkRig rig(link_config(), link);
  rig.run_until(kT0 + 2100 * kMs);
  const std::int64_t change = rig.clock.t();
  link.set_tempo(140, change);
  rig.run_until(change + 3000 * kMs);
  Notification n;
  bool echoed = false;
  while (rig.engine->pop_notification(n))
    echoed |=
        n.kind == Notification::Kind::kControlChanged && n.control == config::Control::kTempo && n.value == Approx(140);
  CHECK(echoed);
  CHECK(rig.engine->settings().clock.tempo_bpm == Approx(140));
  CHECK(link.proposals.empty());
  // Every beat rolled out after the change (its budget included) is on the new grid.
  for (const auto& b : rig.beats()) {
    if (b.time_ns - 50 * kMs > change + kMs)
      CHECK(same_ns(b.time_ns, link.time_at(static_cast<double>(b.beat)) - 5 * kMs));
  }
}

TEST_CASE("a tempo set over OSC on Link is proposed to the session, start/stop sync stops the beats",
          "[unit][link][live]") {
  FakeLink link(90, 0);
  LinkRig rig(link_config(), link);
  rig.run_until(kT0 + 1000 * kMs);
  rig.control(config::Control::kTempo, 100);
  REQUIRE(link.proposals.size() == 1);
  CHECK(link.proposals[0].first == 100);
  CHECK(link.tempo() == 100);

  link.playing = false;
  rig.run_until(kT0 + 1100 * kMs);
  const auto before = rig.beats().size();
  rig.run_until(kT0 + 4000 * kMs);
  CHECK(rig.beats().size() == before);
  link.playing = true;
  rig.run_until(kT0 + 6000 * kMs);
  CHECK(rig.beats().size() > before);
  CHECK(link.proposals.size() == 1);
}
