// The beat clock of the live engine: where a moment (steady clock, ns) lies
// in beats, and when a beat falls. Two sources (DESIGN.md "Tempo"):
// - internal: a tempo (config, /nextbeat/tempo, tap tempo) from beat 0 at start;
// - MIDI clock in as slave: 24 clocks per quarter note, start / continue /
//   stop and song position; the tempo is estimated from the clock intervals.
// A tempo change never moves the current position: the beat position is
// continuous and never goes backwards, so event ticks stay in order.
// Plain C++, no allocation; called on: the engine thread.
#pragma once

#include <array>
#include <cstdint>

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

  void set_tempo(double bpm, std::int64_t now_ns) noexcept;  // internal; clamped to 20..400
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
  // came; and while fallen back.
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
};

}  // namespace nextbeat::engine
