#include "engine/live/BeatClock.h"

#include <algorithm>
#include <cmath>

namespace nextbeat::engine {
namespace {
constexpr std::int64_t kTapResetNs = 2'000'000'000;
double clamp_tempo(double bpm) {
  return std::clamp(bpm, BeatClock::kMinTempo, BeatClock::kMaxTempo);
}
}  // namespace

BeatClock::BeatClock(double tempo_bpm, std::int64_t start_ns) noexcept
    : ns_per_beat_(60e9 / clamp_tempo(tempo_bpm)), anchor_ns_(start_ns) {}

void BeatClock::re_anchor(std::int64_t now_ns) noexcept {
  anchor_beat_ = beat_at(now_ns);
  anchor_ns_ = now_ns;
}

void BeatClock::use_midi_clock(bool midi, std::int64_t now_ns) noexcept {
  if (midi == midi_) return;
  if (midi) {
    use_link(nullptr, 0, now_ns);
    // Continue from where the internal clock is; the song starts over on 0xFA.
    midi_clocks_ = static_cast<std::int64_t>(std::floor(beat_at(now_ns) * kMidiClocksPerBeat));
    last_clock_ns_ = now_ns;
    have_clock_ = false;
    midi_running_ = false;
    midi_ = true;
  } else {
    const double beat = beat_at(now_ns);
    midi_ = false;
    fallback_ = false;
    anchor_beat_ = beat;
    anchor_ns_ = now_ns;
  }
}

void BeatClock::set_tempo(double bpm, std::int64_t now_ns) noexcept {
  if (midi_) return;
  // Link: the session's tempo may lie outside 20..400 (Link allows up to
  // 999); what the engine's settings hold is its clamped value, which must
  // not be proposed back as a change.
  if (link_ != nullptr && clamp_tempo(bpm) == clamp_tempo(tempo_bpm())) return;
  re_anchor(now_ns);
  ns_per_beat_ = 60e9 / clamp_tempo(bpm);
  if (link_ != nullptr) link_->propose_tempo(clamp_tempo(bpm), now_ns + link_latency_ns_);
}

void BeatClock::use_link(LinkTimeline* link, std::int64_t output_latency_ns, std::int64_t now_ns) noexcept {
  if (link == nullptr) {
    if (link_ != nullptr) re_anchor(now_ns);
    link_ = nullptr;
    link_playing_ = true;
    return;
  }
  use_midi_clock(false, now_ns);
  link_ = link;
  link_latency_ns_ = output_latency_ns;
  const LinkSnapshot s = link_->capture(now_ns);
  link_playing_ = s.playing;
  anchor_ns_ = s.time_ns - link_latency_ns_;
  anchor_beat_ = s.beat;
  ns_per_beat_ = 60e9 / std::max(s.tempo_bpm, 1.0);
}

BeatClock::LinkChange BeatClock::follow_link(std::int64_t now_ns) noexcept {
  LinkChange change;
  if (link_ == nullptr) return change;
  const LinkSnapshot s = link_->capture(now_ns);
  const double before = beat_at(now_ns);
  const double ns_per_beat = 60e9 / std::max(s.tempo_bpm, 1.0);
  change.tempo = std::abs(60e9 / ns_per_beat - tempo_bpm()) > 1e-6;
  anchor_ns_ = s.time_ns - link_latency_ns_;
  anchor_beat_ = s.beat;
  ns_per_beat_ = ns_per_beat;
  // A tempo change keeps the beat where the changing peer made it (a few
  // ms ago at most): only a move beyond that is a jump.
  change.jumped = std::abs(beat_at(now_ns) - before) > 0.05;
  change.started = s.playing && !link_playing_;
  change.stopped = !s.playing && link_playing_;
  link_playing_ = s.playing;
  return change;
}

bool BeatClock::tap(std::int64_t now_ns) noexcept {
  if (tap_count_ > 0 && now_ns - taps_[static_cast<std::size_t>(tap_count_ - 1)] > kTapResetNs) tap_count_ = 0;
  if (tap_count_ == static_cast<int>(taps_.size())) {
    std::rotate(taps_.begin(), taps_.begin() + 1, taps_.end());
    --tap_count_;
  }
  taps_[static_cast<std::size_t>(tap_count_++)] = now_ns;
  if (tap_count_ < 2 || midi_) return false;
  const double interval = static_cast<double>(taps_[static_cast<std::size_t>(tap_count_ - 1)] - taps_[0]) /
                          static_cast<double>(tap_count_ - 1);
  if (interval <= 0) return false;
  set_tempo(60e9 / interval, now_ns);
  return true;
}

bool BeatClock::check_midi_lost(std::int64_t now_ns) noexcept {
  if (!midi_ || fallback_ || !midi_running_ || !have_clock_) return false;
  const auto limit = std::max(kMidiLostNs, static_cast<std::int64_t>(4 * ns_per_beat_ / kMidiClocksPerBeat));
  if (now_ns - last_clock_ns_ <= limit) return false;
  // Where the MIDI position stands (it waits at the clock that did not come).
  anchor_beat_ = beat_at(now_ns);
  anchor_ns_ = now_ns;
  fallback_ = true;
  return true;
}

void BeatClock::leave_fallback(std::int64_t now_ns) noexcept {
  if (!fallback_) return;
  // The next clock is the first one past the position reached: never back.
  midi_clocks_ = static_cast<std::int64_t>(std::ceil(beat_at(now_ns) * kMidiClocksPerBeat)) - 1;
  last_clock_ns_ = now_ns;
  have_clock_ = false;  // the silence is no interval to learn the tempo from
  fallback_ = false;
}

void BeatClock::midi_tick(std::int64_t now_ns) noexcept {
  if (!midi_ || !midi_running_) return;
  leave_fallback(now_ns);
  if (have_clock_) {
    // Smooth the tempo estimate: clocks through JACK or USB jitter by a
    // fraction of a millisecond; an interval far off (a dropped clock, a
    // pause) is not averaged in.
    const auto interval = static_cast<double>(now_ns - last_clock_ns_) * kMidiClocksPerBeat;
    if (interval > 60e9 / kMaxTempo * 0.5 && interval < 60e9 / kMinTempo * 2) {
      const double clamped = std::clamp(interval, 60e9 / kMaxTempo, 60e9 / kMinTempo);
      ns_per_beat_ = ns_per_beat_ * 0.9 + clamped * 0.1;
    }
  }
  ++midi_clocks_;
  last_clock_ns_ = now_ns;
  have_clock_ = true;
}

void BeatClock::midi_start(std::int64_t now_ns) noexcept {
  if (!midi_) return;
  fallback_ = false;
  midi_clocks_ = -1;  // the first clock after start is position 0
  midi_running_ = true;
  have_clock_ = false;
  last_clock_ns_ = now_ns;
}

void BeatClock::midi_continue(std::int64_t now_ns) noexcept {
  if (!midi_) return;
  leave_fallback(now_ns);
  midi_running_ = true;
  have_clock_ = false;
  last_clock_ns_ = now_ns;
}

void BeatClock::midi_stop(std::int64_t now_ns) noexcept {
  leave_fallback(now_ns);
  if (midi_) midi_running_ = false;
}

void BeatClock::midi_song_position(int sixteenths) noexcept {
  // Only meaningful while stopped (MIDI spec); the next clock after continue
  // is the position's first.
  if (midi_ && !midi_running_) midi_clocks_ = static_cast<std::int64_t>(std::max(sixteenths, 0)) * 6 - 1;
}

bool BeatClock::running() const noexcept {
  if (link_ != nullptr) return link_playing_;
  return internal() || (midi_running_ && have_clock_);
}

double BeatClock::beat_at(std::int64_t t_ns) const noexcept {
  if (internal()) return anchor_beat_ + static_cast<double>(t_ns - anchor_ns_) / ns_per_beat_;
  const double at_clock = static_cast<double>(std::max<std::int64_t>(midi_clocks_, 0)) / kMidiClocksPerBeat;
  if (!running()) return at_clock;
  const double since = std::max(0.0, static_cast<double>(t_ns - last_clock_ns_) / ns_per_beat_);
  return at_clock + std::min(since, 1.0 / kMidiClocksPerBeat);
}

std::int64_t BeatClock::time_of(double beat) const noexcept {
  if (internal()) return anchor_ns_ + static_cast<std::int64_t>(std::llround((beat - anchor_beat_) * ns_per_beat_));
  const double at_clock = static_cast<double>(std::max<std::int64_t>(midi_clocks_, 0)) / kMidiClocksPerBeat;
  return last_clock_ns_ + static_cast<std::int64_t>(std::llround((beat - at_clock) * ns_per_beat_));
}

}  // namespace nextbeat::engine
