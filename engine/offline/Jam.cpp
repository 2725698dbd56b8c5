#include "engine/offline/Jam.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

#include "config/Controls.h"
#include "engine/live/BeatClock.h"
#include "engine/live/LiveEngine.h"
#include "engine/live/OutputScheduler.h"
#include "engine/model/Runtime.h"
#include "engine/queues/SteadyTime.h"

namespace nextbeat::engine {
namespace {

constexpr std::int64_t kStartNs = 1'000'000'000;  // the jam's clock starts at 1 s (0 reads as "never" in places)
constexpr std::int64_t kMinStepNs = 1'000;        // the clock always moves on by at least this
constexpr double kMinNoteBeats = 1.0 / 96;        // a note cut at its own onset still lasts this long
constexpr int kPerformerTrack = 1;                // track 0 of the written file is the tempo map
constexpr int kNextbeatTrack = 2;

// The jam's clock. Ideal time: it moves only when the jam moves it. Measured:
// between start_work() and stop_work() it also runs at the real rate, so the
// engine's work costs the time it costs on this machine.
class JamClock final : public Clock {
 public:
  explicit JamClock(bool measured) : measured_(measured) {}
  std::int64_t now_ns() const noexcept override {
    return working_ && measured_ ? t_ + (steady_now_ns() - anchor_) : t_;
  }
  std::int64_t t() const noexcept { return now_ns(); }
  void set(std::int64_t t) noexcept {
    t_ = t;
    anchor_ = steady_now_ns();
  }
  void start_work() noexcept {
    anchor_ = steady_now_ns();
    working_ = true;
  }
  void stop_work() noexcept {
    t_ = now_ns();
    working_ = false;
  }

 private:
  bool measured_;
  bool working_ = false;
  std::int64_t t_ = kStartNs;
  std::int64_t anchor_ = 0;
};

// Beats of the file at `seconds` from its start (the inverse of Score::seconds_at).
double beat_at_seconds(const Score& score, double seconds) {
  double beat = 0;
  double at = 0;
  double bpm = score.tempo_map.empty() ? 120.0 : score.tempo_map.front().bpm;
  for (std::size_t i = 1; i < score.tempo_map.size(); ++i) {
    const double span = (score.tempo_map[i].beat - beat) * 60.0 / bpm;
    if (at + span > seconds) break;
    at += span;
    beat = score.tempo_map[i].beat;
    bpm = score.tempo_map[i].bpm;
  }
  return beat + (seconds - at) * bpm / 60.0;
}

// What reached "the synth": nextbeat's notes, paired on/off by channel and pitch.
struct NoteRecorder final : OutputSink {
  NoteRecorder(const Score& s, std::int64_t start) : score(s), start_ns(start) {}
  double beat_of(std::int64_t t_ns) const { return beat_at_seconds(score, static_cast<double>(t_ns - start_ns) / 1e9); }
  void emit(const OutputEvent& e) noexcept override {
    if (e.kind != OutputKind::kNoteOn && e.kind != OutputKind::kNoteOff) return;
    const auto key = std::pair{int{e.channel}, int{e.pitch}};
    const double beat = beat_of(e.time_ns);
    if (const auto it = open.find(key); it != open.end()) {
      Note& n = notes[it->second];
      n.end_beat = std::max(beat, n.start_beat + kMinNoteBeats);
      open.erase(it);
    }
    if (e.kind == OutputKind::kNoteOn && e.velocity > 0) {
      open[key] = notes.size();
      notes.push_back(Note{.pitch = e.pitch,
                           .velocity = e.velocity,
                           .channel = e.channel,
                           .track = kNextbeatTrack,
                           .start_beat = beat,
                           .end_beat = beat + kMinNoteBeats,
                           .source = 1});
    }
  }
  const Score& score;
  std::int64_t start_ns;
  std::vector<Note> notes;
  std::map<std::pair<int, int>, std::size_t> open;
};

// The engine's output into the output thread's timetable, as the daemon's queue does.
struct ToScheduler final : OutputSink {
  ToScheduler(OutputScheduler& s, const JamClock& c) : scheduler(s), clock(c) {}
  void emit(const OutputEvent& e) noexcept override { scheduler.add(e, clock.t()); }
  OutputScheduler& scheduler;
  const JamClock& clock;
};

struct TimedInput {
  std::int64_t time_ns = 0;
  int order = 0;  // at one time: tempo, then note-offs, then note-ons
  InputEvent event;
};

std::string fixed(double v, int digits) {
  if (std::isnan(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::string percent(const Fraction& f) {
  return std::isnan(f.ratio()) ? "-" : fixed(100.0 * f.ratio(), 1) + " %";
}

}  // namespace

JamEngineStats& JamEngineStats::operator+=(const JamEngineStats& o) {
  beats += o.beats;
  predictions += o.predictions;
  misses += o.misses;
  notes_out += o.notes_out;
  cancels += o.cancels;
  retuned += o.retuned;
  silenced += o.silenced;
  rollout_p50_us = std::max(rollout_p50_us, o.rollout_p50_us);  // pooled: the worst file's
  rollout_p99_us = std::max(rollout_p99_us, o.rollout_p99_us);
  return *this;
}

JamRun run_jam(std::unique_ptr<LstmModel> model, const Score& score, const JamOptions& options) {
  JamRun run;
  for (const Note& n : score.notes) (n.source == 0 ? run.performer : run.accompaniment).push_back(n);
  if (run.performer.empty()) throw std::invalid_argument(score.source + ": no performer note to jam with");
  for (const TempoChange& t : score.tempo_map)
    if (t.bpm < BeatClock::kMinTempo || t.bpm > BeatClock::kMaxTempo)
      throw std::invalid_argument(score.source + ": tempo " + fixed(t.bpm, 2) + " bpm at beat " + fixed(t.beat, 2) +
                                  ": the live clock follows 20..400 bpm");

  config::Config config = options.config;
  config.clock.source = config::ClockSource::kInternal;
  config.clock.send_midi_clock = false;
  config.clock.tempo_bpm = score.tempo_map.empty() ? 120.0 : score.tempo_map.front().bpm;
  if (!score.time_signatures.empty()) {
    const TimeSignature& ts = score.time_signatures.front();
    const double beats = ts.numerator * 4.0 / ts.denominator;
    if (std::abs(beats - std::round(beats)) < 1e-9) config.clock.beats_per_bar = std::clamp(int(beats), 1, 16);
  }
  set_inference_threads(config.model.threads);

  const auto ns_at = [&](double beat) { return kStartNs + std::llround(score.seconds_at(beat) * 1e9); };
  std::vector<TimedInput> inputs;
  for (std::size_t i = 1; i < score.tempo_map.size(); ++i) {
    inputs.push_back({ns_at(score.tempo_map[i].beat), 0,
                      InputEvent{.kind = InputKind::kControl,
                                 .control = static_cast<std::uint8_t>(config::Control::kTempo),
                                 .value = score.tempo_map[i].bpm}});
  }
  std::vector<Note> played = run.performer;
  if (options.accompaniment_as_hints) {
    for (const Note& n : run.accompaniment) {
      if (n.pitch < config.midi.split_note) played.push_back(n);
    }
  }
  for (const Note& n : played) {
    const auto channel = static_cast<std::uint8_t>(n.channel & 15);
    inputs.push_back({ns_at(n.start_beat), 2,
                      InputEvent{.kind = InputKind::kNoteOn,
                                 .channel = channel,
                                 .a = static_cast<std::int16_t>(n.pitch),
                                 .b = static_cast<std::int16_t>(std::clamp(n.velocity, 1, 127))}});
    inputs.push_back(
        {ns_at(n.end_beat), 1,
         InputEvent{.kind = InputKind::kNoteOff, .channel = channel, .a = static_cast<std::int16_t>(n.pitch)}});
  }
  std::stable_sort(inputs.begin(), inputs.end(), [](const TimedInput& a, const TimedInput& b) {
    return std::pair{a.time_ns, a.order} < std::pair{b.time_ns, b.order};
  });
  for (TimedInput& in : inputs) in.event.time_ns = in.time_ns;

  JamClock clock(!options.ideal_time);
  NoteRecorder recorder(score, kStartNs);
  OutputScheduler scheduler(recorder);
  ToScheduler to_scheduler(scheduler, clock);
  // Built with the clock stopped: beat 0 of the engine's clock is the file's beat 0.
  LiveEngine engine(std::move(model), config, to_scheduler, clock);

  // The engine runs before the first note comes (as the daemon's loop does):
  // beat 0 is decided, silent, before the performer's first note at beat 0
  // is heard, rather than rolled out too late and counted a miss.
  clock.start_work();
  engine.advance();
  clock.stop_work();

  const std::int64_t end_ns = ns_at(std::max(score.end_beat(), run.performer.back().end_beat));
  std::size_t next_input = 0;
  while (true) {
    // The daemon's engine loop: inputs due, then time passes (advance), then
    // the output thread plays what is due.
    clock.start_work();
    while (next_input < inputs.size() && inputs[next_input].time_ns <= clock.t()) {
      engine.handle(inputs[next_input].event);
      ++next_input;
    }
    engine.advance();
    const std::int64_t wake = engine.next_wakeup_ns();
    clock.stop_work();
    // The file ends at end_ns: nothing starts there (what is due then is
    // released below), so every note of the duet lies within the file.
    if (clock.t() >= end_ns) break;
    scheduler.play_due(clock.t());
    std::int64_t next = std::min({wake, scheduler.next_due(), end_ns});
    if (next_input < inputs.size()) next = std::min(next, inputs[next_input].time_ns);
    clock.set(std::max(next, clock.t() + kMinStepNs));
  }
  clock.start_work();
  engine.stop();
  clock.stop_work();
  scheduler.play_due(clock.t());
  scheduler.release_all(clock.t());

  const EngineStats& s = engine.stats();
  run.engine.beats = s.beats.load();
  run.engine.predictions = s.predictions.load();
  run.engine.misses = s.misses.load();
  run.engine.notes_out = s.notes_out.load();
  run.engine.cancels = s.cancels.load();
  run.engine.retuned = s.retuned.load();
  run.engine.silenced = s.silenced.load();
  run.engine.rollout_p50_us = percentile_us(s.rollout_ns.recent(), 0.5);
  run.engine.rollout_p99_us = percentile_us(s.rollout_ns.recent(), 0.99);

  run.nextbeat = std::move(recorder.notes);
  // The duet: the performer's own channel(s); nextbeat on its configured
  // channel, or the next free one when the performer uses that channel (one
  // synth channel cannot sound both parts' notes of one pitch apart).
  std::vector<bool> used(16, false);
  for (const Note& n : run.performer) used[static_cast<std::size_t>(n.channel & 15)] = true;
  int channel = std::clamp(config.midi.channel, 1, 16) - 1;
  for (int k = 0; k < 16 && (used[static_cast<std::size_t>(channel)] || channel == kDrumChannel); ++k)
    channel = (channel + 1) % 16;
  for (Note& n : run.nextbeat) n.channel = channel;

  run.duet.tempo_map = score.tempo_map;
  run.duet.time_signatures = score.time_signatures;
  run.duet.ticks_per_beat = score.ticks_per_beat;
  run.duet.source = score.source + " (duet)";
  for (Note n : run.performer) {
    n.track = kPerformerTrack;
    n.source = 0;
    run.duet.notes.push_back(n);
  }
  for (const Note& n : run.nextbeat) run.duet.notes.push_back(n);
  run.duet.track_names = {"", "performer", "nextbeat"};
  run.duet.sort_notes();
  return run;
}

JamReport& JamReport::operator+=(const JamReport& o) {
  nextbeat += o.nextbeat;
  random_in_key += o.random_in_key;
  accompaniment += o.accompaniment;
  engine += o.engine;
  files += o.files;
  return *this;
}

JamReport jam_report(const JamRun& run, const DuetKey& key, std::uint64_t seed) {
  JamReport r;
  r.files = 1;
  double beats = 0;
  for (const auto* part : {&run.performer, &run.accompaniment})
    for (const Note& n : *part) beats = std::max(beats, n.end_beat);
  beats = std::ceil(beats - 1e-9);
  r.nextbeat = duet_figures(run.nextbeat, run.performer, run.accompaniment, key, beats);
  std::mt19937_64 rng(seed);
  r.random_in_key = duet_figures(random_in_key(run.nextbeat, key, rng), run.performer, run.accompaniment, key, beats);
  r.accompaniment = duet_figures(run.accompaniment, run.performer, run.accompaniment, key, beats);
  r.engine = run.engine;
  return r;
}

std::string format_jam_report(const JamReport& r) {
  std::ostringstream out;
  const auto row = [&](const std::string& name, const std::string& a, const std::string& b, const std::string& c) {
    out << std::left << std::setw(44) << name << std::setw(12) << a << std::setw(16) << b << c << '\n';
  };
  const auto frac_row = [&](const std::string& name, auto field) {
    row(name, percent(field(r.nextbeat)), percent(field(r.random_in_key)), percent(field(r.accompaniment)));
  };
  row("", "nextbeat", "random in-key", "accompaniment");
  frac_row("note in the sounding chord", [](const DuetFigures& f) { return f.in_chord; });
  frac_row("clash with the performer (1, 6, 11 st)", [](const DuetFigures& f) { return f.clash; });
  frac_row("in key", [](const DuetFigures& f) { return f.in_key; });
  frac_row("onsets on the 16th / 8th-triplet grid", [](const DuetFigures& f) { return f.on_grid; });
  row("notes per beat", fixed(r.nextbeat.notes_per_beat(), 2), fixed(r.random_in_key.notes_per_beat(), 2),
      fixed(r.accompaniment.notes_per_beat(), 2));
  row("notes", std::to_string(r.nextbeat.in_key.of), std::to_string(r.random_in_key.in_key.of),
      std::to_string(r.accompaniment.in_key.of));
  out << "files " << r.files << ", beats " << fixed(r.nextbeat.beats, 0) << "; engine: " << r.engine.beats << " beats, "
      << r.engine.predictions << " rolled out in time, " << r.engine.misses << " deadline misses, "
      << r.engine.notes_out << " notes (" << r.engine.retuned << " moved off a clash, " << r.engine.silenced
      << " silenced), rollout p50 " << fixed(r.engine.rollout_p50_us, 0) << " us, p99 "
      << fixed(r.engine.rollout_p99_us, 0) << " us" << (r.files > 1 ? " (the worst file's)" : "") << '\n';
  return out.str();
}

nlohmann::json to_json(const JamReport& r) {
  return {{"files", r.files},
          {"nextbeat", to_json(r.nextbeat)},
          {"random_in_key", to_json(r.random_in_key)},
          {"accompaniment", to_json(r.accompaniment)},
          {"engine",
           {{"beats", r.engine.beats},
            {"predictions", r.engine.predictions},
            {"misses", r.engine.misses},
            {"notes_out", r.engine.notes_out},
            {"cancels", r.engine.cancels},
            {"retuned", r.engine.retuned},
            {"silenced", r.engine.silenced},
            {"rollout_p50_us", r.engine.rollout_p50_us},
            {"rollout_p99_us", r.engine.rollout_p99_us}}}};
}

}  // namespace nextbeat::engine
