// The beat clock of the live engine: where a moment (steady clock, ns) lies
// in beats, and when a beat falls. Three sources (DESIGN.md "Tempo"):
// - internal: a tempo (config, /nextbeat/tempo, tap tempo) from beat 0 at start;
// - MIDI clock in as slave: 24 clocks per quarter note, start / continue /
//   stop and song position; the tempo is estimated from the clock intervals;
// - an Ableton Link session (LinkTimeline.h): its tempo and beat, bar phase
//   included, read each engine turn; a tempo set here is proposed to it.
// A tempo change never moves the current position: the beat position is
// continuous and never goes backwards, so event ticks stay in order. Link
// is the exception: another peer may move the session's beat (joining a
// session aligns the phase; a peer's start); follow_link() says so.
// Plain C++, no allocation; called on: the engine thread.
#pragma once

#include <array>
#include <cstdint>

#include "engine/live/LinkTimeline.h"

namespace nextbeat::engine {

class BeatClock {
 public:
  static constexpr int kMidiClocksPerBeat = 24;
  static constexpr double kMinTempo = 20.0;
  static constexpr double kMaxTempo = 400.0;

  BeatClock(double tempo_bpm, std::int64_t start_ns) noexcept;

  // Internal source (the default) or MIDI clock. Switching keeps the position.
  void use_midi_clock(bool midi, std::int64_t now_ns) noexcept;
  bool midi_clock() const noexcept { return midi_; }

  // Ableton Link: follow `link`'s session from now on (null: not, the
  // internal source goes on from where the session was). The beat at time t
  // is the session's beat at t + output_latency_ns: an event stamped t is
  // heard that much later, so nextbeat plays early by as much. Joining reads
  // the session and proposes nothing.
  void use_link(LinkTimeline* link, std::int64_t output_latency_ns, std::int64_t now_ns) noexcept;
  bool link() const noexcept { return link_ != nullptr; }
  struct LinkChange {
    bool tempo = false;    // the session's tempo changed (another peer, or the first sight of the session)
    bool jumped = false;   // the session's beat moved (a phase alignment on joining, a peer's start)
    bool started = false;  // start/stop sync: the session started / stopped playing
    bool stopped = false;
  };
  // Reads the session's timeline (Link's audio-thread capture). Call it each
  // engine turn, before reading the position; a no-op off Link.
  LinkChange follow_link(std::int64_t now_ns) noexcept;

  // Internal: clamped to 20..400. Link: proposed to the session (the beat
  // now stays where it is); MIDI clock: ignored.
  void set_tempo(double bpm, std::int64_t now_ns) noexcept;
  // Tap tempo: the mean interval of the last taps (up to 4 intervals; a pause
  // over 2 s starts again) sets the tempo. Returns true when the tempo changed.
  bool tap(std::int64_t now_ns) noexcept;

  // MIDI clock in. Ignored while the internal source is in use.
  void midi_tick(std::int64_t now_ns) noexcept;
  void midi_start(std::int64_t now_ns) noexcept;
  void midi_continue(std::int64_t now_ns) noexcept;
  void midi_stop(std::int64_t now_ns) noexcept;
  void midi_song_position(int sixteenths) noexcept;

  // The MIDI clock source went silent mid-song (a crashed sequencer, a
  // pulled cable: no stop message): once no clock came for kMidiLostNs (or 4
  // clock intervals at the estimated tempo, if longer) while running, the
  // clock plays on as the internal source would, at the estimated tempo from
  // where it was. The next clock, start or continue follows the MIDI clock
  // again (from the position reached), a stop stops. Returns true when it
  // has just fallen back. Call it before reading the position.
  static constexpr std::int64_t kMidiLostNs = 500'000'000;
  bool check_midi_lost(std::int64_t now_ns) noexcept;
  bool midi_fallback() const noexcept { return fallback_; }

  // Internal: always. MIDI: between start/continue and stop, once a clock
  // came; and while fallen back. Link: while the session plays (always
  // without start/stop sync).
  bool running() const noexcept;
  double tempo_bpm() const noexcept { return 60e9 / ns_per_beat_; }
  double ns_per_beat() const noexcept { return ns_per_beat_; }
  // The position in beats at a moment (from beat 0). With the MIDI clock, the
  // position between clocks runs on at the estimated tempo, but never past the
  // next clock's position while that clock is late, and stands still when stopped.
  double beat_at(std::int64_t t_ns) const noexcept;
  // When a beat position is reached at the current tempo (for beats ahead).
  std::int64_t time_of(double beat) const noexcept;

 private:
  void re_anchor(std::int64_t now_ns) noexcept;
  // Back to the MIDI clock from the fallback, at the position reached.
  void leave_fallback(std::int64_t now_ns) noexcept;
  bool internal() const noexcept { return !midi_ || fallback_; }

  bool midi_ = false;
  double ns_per_beat_;
  // Internal source: the position at the anchor and the tempo after it.
  std::int64_t anchor_ns_;
  double anchor_beat_ = 0;
  // Tap tempo.
  std::array<std::int64_t, 5> taps_{};
  int tap_count_ = 0;
  // MIDI clock.
  bool midi_running_ = false;
  std::int64_t midi_clocks_ = -1;  // clocks since the song's start; -1 = before the first
  std::int64_t last_clock_ns_ = 0;
  bool have_clock_ = false;
  bool fallback_ = false;  // MIDI clock lost mid-song: running on the internal formula
  // Link: the session's line is anchor_ns_ / anchor_beat_ / ns_per_beat_,
  // moved to the output's timeline by the latency.
  LinkTimeline* link_ = nullptr;
  std::int64_t link_latency_ns_ = 0;
  bool link_playing_ = true;
};

}  // namespace nextbeat::engine
