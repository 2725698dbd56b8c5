#include "engine/live/TakeRecorder.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <string_view>
#include <utility>

#include "engine/music/SmfBytes.h"
#include "engine/queues/SteadyTime.h"
#include "engine/util/AtomicFile.h"

namespace nextbeat::engine {
namespace {

constexpr std::int64_t kDrainPeriodNs = 50'000'000;
constexpr double kTempoEpsilonBpm = 0.05;  // a smaller change writes no tempo event (MIDI clock jitter)

using smf::put_u16;
using smf::put_u32;
using smf::put_vlq;

// One track's events at ticks, written in order (ties keep their order).
struct TrackWriter {
  struct Event {
    std::int64_t tick;
    std::vector<std::uint8_t> bytes;
  };
  explicit TrackWriter(std::string_view name) {
    std::vector<std::uint8_t> meta{0xFF, 0x03, static_cast<std::uint8_t>(name.size())};
    meta.insert(meta.end(), name.begin(), name.end());
    events.push_back({0, std::move(meta)});
  }
  void add(std::int64_t tick, std::vector<std::uint8_t> bytes) {
    events.push_back({std::max<std::int64_t>(0, tick), std::move(bytes)});
  }
  void write(std::vector<std::uint8_t>& out) {
    std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.tick < b.tick; });
    std::vector<std::uint8_t> body;
    std::int64_t tick = 0;
    for (const Event& e : events) {
      put_vlq(body, static_cast<std::uint32_t>(e.tick - tick));
      tick = e.tick;
      body.insert(body.end(), e.bytes.begin(), e.bytes.end());
    }
    body.insert(body.end(), {0x00, 0xFF, 0x2F, 0x00});
    out.insert(out.end(), {'M', 'T', 'r', 'k'});
    put_u32(out, static_cast<std::uint32_t>(body.size()));
    out.insert(out.end(), body.begin(), body.end());
  }
  std::vector<Event> events;
};

}  // namespace

// ---- TakeTap (real-time side) --------------------------------------------------------

void TakeTap::performer(const InputEvent& event) noexcept {
  if (!armed()) return;
  const bool on = event.kind == InputKind::kNoteOn;
  if (!on && event.kind != InputKind::kNoteOff) return;
  if (event.a < 0 || event.a > 127) return;
  performer_.push(TakeEvent{.time_ns = event.time_ns,
                            .kind = on ? TakeEvent::Kind::kNoteOn : TakeEvent::Kind::kNoteOff,
                            .part = TakeEvent::Part::kPerformer,
                            .channel = static_cast<std::uint8_t>(event.channel & 0x0F),
                            .pitch = static_cast<std::uint8_t>(event.a),
                            .velocity = static_cast<std::uint8_t>(on ? std::clamp<int>(event.b, 1, 127) : 0)});
}

void TakeTap::emit(const OutputEvent& event) noexcept {
  if (!armed()) return;
  TakeEvent e{.time_ns = event.time_ns,
              .part = TakeEvent::Part::kNextbeat,
              .channel = static_cast<std::uint8_t>(event.channel & 0x0F),
              .pitch = static_cast<std::uint8_t>(event.pitch & 0x7F),
              .velocity = event.velocity,
              .beat = event.beat};
  switch (event.kind) {
    case OutputKind::kNoteOn:
      e.kind = TakeEvent::Kind::kNoteOn;
      break;
    case OutputKind::kNoteOff:
      e.kind = TakeEvent::Kind::kNoteOff;
      break;
    case OutputKind::kAllNotesOff:
      e.kind = TakeEvent::Kind::kAllNotesOff;
      break;
    case OutputKind::kBeat:
      e.kind = TakeEvent::Kind::kBeat;
      break;
    default:
      return;  // clocks, start/stop, program changes: not part of the take
  }
  played_.push(e);
}

// ---- Take ------------------------------------------------------------------------------

Take::Take(std::int64_t start_ns, double tempo_bpm, int beats_per_bar)
    : start_ns_(start_ns), tempo_bpm_(tempo_bpm > 0 ? tempo_bpm : 120.0), beats_per_bar_(std::max(1, beats_per_bar)) {}

void Take::add(const TakeEvent& event) {
  if (event.kind == TakeEvent::Kind::kBeat) {
    // Beats come from one thread in time order; a repeated time (a jump of
    // the clock's count, MIDI start) keeps the first.
    if (beats_.empty() || event.time_ns > beats_.back().time_ns) beats_.push_back(event);
    return;
  }
  const auto part = static_cast<std::size_t>(event.part);
  events_[part].push_back(event);
  if (event.kind == TakeEvent::Kind::kNoteOn) ++notes_[part];
}

std::vector<std::uint8_t> Take::smf(std::int64_t end_ns) const {
  const double default_ns_per_beat = 60e9 / tempo_bpm_;
  // The beats played (up to end_ns) are the time axis: the file's beat k+P0
  // is the k-th beat played, and a moment between two beats lies between
  // them in proportion, so the tempo map is the one played, whatever the
  // clock followed. Before the first beat and after the last, the nearest
  // interval's tempo continues; with no beats at all, `tempo_bpm`.
  std::vector<std::int64_t> beat_ns;
  for (const TakeEvent& b : beats_)
    if (b.time_ns <= end_ns) beat_ns.push_back(b.time_ns);
  const std::size_t n = beat_ns.size();
  auto interval = [&](std::size_t k) {  // ns per beat of the segment that starts at beat k
    if (n < 2) return default_ns_per_beat;
    k = std::min(k, n - 2);
    return static_cast<double>(beat_ns[k + 1] - beat_ns[k]);
  };
  double p0 = 0;
  if (n > 0) {
    // The first beat on its place in the bar (the clock's beat 0 is a bar
    // line), late enough that nothing before it falls before the file's start.
    const double lead = static_cast<double>(beat_ns[0] - start_ns_) / interval(0);
    const std::int64_t bar = beats_per_bar_;
    p0 = static_cast<double>((beats_.front().beat % bar + bar) % bar);
    while (p0 < lead) p0 += static_cast<double>(bar);
  }
  auto position = [&](std::int64_t t) {
    if (n == 0) return static_cast<double>(t - start_ns_) / default_ns_per_beat;
    if (t <= beat_ns[0]) return p0 - static_cast<double>(beat_ns[0] - t) / interval(0);
    if (t >= beat_ns[n - 1]) return p0 + double(n - 1) + static_cast<double>(t - beat_ns[n - 1]) / interval(n - 1);
    const auto k = static_cast<std::size_t>(std::upper_bound(beat_ns.begin(), beat_ns.end(), t) - beat_ns.begin()) - 1;
    return p0 + double(k) + static_cast<double>(t - beat_ns[k]) / interval(k);
  };
  auto tick = [&](std::int64_t t) { return std::max<std::int64_t>(0, std::llround(position(t) * kTicksPerBeat)); };

  TrackWriter tempo("tempo");
  auto put_tempo = [&](std::int64_t at, double ns_per_beat) {
    const auto us = static_cast<std::uint32_t>(std::clamp(std::llround(ns_per_beat / 1000.0), 1LL, 0xFFFFFFLL));
    tempo.add(at, {0xFF, 0x51, 0x03, static_cast<std::uint8_t>(us >> 16), static_cast<std::uint8_t>(us >> 8),
                   static_cast<std::uint8_t>(us)});
  };
  // n/4, 24 clocks a click, 8 32nds a quarter.
  tempo.add(0, {0xFF, 0x58, 0x04, static_cast<std::uint8_t>(std::min(beats_per_bar_, 255)), 2, 24, 8});
  double last_bpm = 60e9 / interval(0);
  put_tempo(0, interval(0));
  for (std::size_t k = 1; k + 1 < n; ++k) {
    const double bpm = 60e9 / interval(k);
    if (std::abs(bpm - last_bpm) < kTempoEpsilonBpm) continue;
    put_tempo(std::llround((p0 + double(k)) * kTicksPerBeat), interval(k));
    last_bpm = bpm;
  }

  std::vector<std::uint8_t> out{'M', 'T', 'h', 'd', 0, 0, 0, 6};
  put_u16(out, 1);
  put_u16(out, 3);
  put_u16(out, kTicksPerBeat);
  tempo.write(out);

  static constexpr std::array<std::string_view, 2> kNames{"performer", "nextbeat"};
  for (std::size_t part = 0; part < 2; ++part) {
    TrackWriter track(kNames[part]);
    std::vector<TakeEvent> events;
    for (const TakeEvent& e : events_[part])
      if (e.time_ns <= end_ns) events.push_back(e);
    std::stable_sort(events.begin(), events.end(),
                     [](const TakeEvent& a, const TakeEvent& b) { return a.time_ns < b.time_ns; });
    // What sounds, by (channel, pitch): a note-off of nothing sounding is
    // left out, and every note-on gets its note-off (at end_ns at the latest).
    std::map<std::pair<int, int>, int> sounding;
    auto off = [&](std::int64_t at, int channel, int pitch) {
      track.add(at, {static_cast<std::uint8_t>(0x80 | channel), static_cast<std::uint8_t>(pitch), 0x40});
    };
    for (const TakeEvent& e : events) {
      const std::int64_t at = tick(e.time_ns);
      switch (e.kind) {
        case TakeEvent::Kind::kNoteOn:
          ++sounding[{e.channel, e.pitch}];
          track.add(at, {static_cast<std::uint8_t>(0x90 | e.channel), e.pitch,
                         static_cast<std::uint8_t>(std::clamp<int>(e.velocity, 1, 127))});
          break;
        case TakeEvent::Kind::kNoteOff: {
          const auto it = sounding.find({e.channel, e.pitch});
          if (it == sounding.end()) break;
          off(at, e.channel, e.pitch);
          if (--it->second == 0) sounding.erase(it);
          break;
        }
        case TakeEvent::Kind::kAllNotesOff:
          for (const auto& [key, count] : sounding)
            for (int i = 0; i < count; ++i) off(at, key.first, key.second);
          sounding.clear();
          break;
        case TakeEvent::Kind::kBeat:
          break;
      }
    }
    const std::int64_t end = tick(end_ns);
    for (const auto& [key, count] : sounding)
      for (int i = 0; i < count; ++i) off(end, key.first, key.second);
    track.write(out);
  }
  return out;
}

// ---- TakeWriter (its own thread) ------------------------------------------------------

TakeWriter::TakeWriter(std::filesystem::path path, TakeTap& tap, double tempo_bpm, int beats_per_bar,
                       std::int64_t flush_period_ns)
    : path_(std::move(path)),
      tap_(tap),
      take_(steady_now_ns(), tempo_bpm, beats_per_bar),
      flush_period_ns_(flush_period_ns) {
  // Leftovers of an earlier take (events pushed after its stop) are not this one's.
  TakeEvent e;
  while (tap_.pop_performer(e) || tap_.pop_played(e)) {
  }
  const std::int64_t now = steady_now_ns();
  write_file_atomically(path_, take_.smf(now));  // throws: the path cannot be written
  last_flush_ns_.store(now, std::memory_order_relaxed);
  tap_.arm(true);
  thread_ = std::thread([this] { run(); });
}

TakeWriter::~TakeWriter() {
  stop();
}

std::string TakeWriter::error() const {
  const std::lock_guard lock(mutex_);
  return error_;
}

void TakeWriter::drain() {
  TakeEvent e;
  while (tap_.pop_performer(e)) take_.add(e);
  while (tap_.pop_played(e)) take_.add(e);
}

void TakeWriter::write(std::int64_t end_ns) {
  std::string failure;
  try {
    write_file_atomically(path_, take_.smf(end_ns));
    last_flush_ns_.store(end_ns, std::memory_order_relaxed);
  } catch (const std::exception& e) {
    failure = e.what();  // kept, tried again next flush, reported on stop and in the log
  }
  const std::lock_guard lock(mutex_);
  error_ = std::move(failure);
}

void TakeWriter::run() {
  std::int64_t next_flush = steady_now_ns() + flush_period_ns_;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::nanoseconds(kDrainPeriodNs), [this] { return stop_; });
      if (stop_) return;
    }
    drain();
    const std::int64_t now = steady_now_ns();
    if (now >= next_flush) {
      write(now);
      next_flush = now + flush_period_ns_;
    }
  }
}

TakeWriter::Summary TakeWriter::stop() {
  {
    const std::lock_guard lock(mutex_);
    if (stopped_) return {take_.notes(TakeEvent::Part::kPerformer), take_.notes(TakeEvent::Part::kNextbeat), error_};
    stopped_ = true;
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  tap_.arm(false);
  drain();
  write(steady_now_ns());
  return {take_.notes(TakeEvent::Part::kPerformer), take_.notes(TakeEvent::Part::kNextbeat), error()};
}

}  // namespace nextbeat::engine
