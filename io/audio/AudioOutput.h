// nextbeat's own sound: a FluidSynth synth played from an RtAudio output
// stream (audio.enabled). The engine hands it notes stamped with when they
// must sound; the audio callback starts each one at its sample within the
// block being rendered.
//
// Threads and ownership: the constructor (control thread) builds the synth
// and loads the whole soundfont, then starts the stream; from then on only
// the RtAudio callback touches the synth, until stop(). emit() runs on the
// engine thread and only enqueues (one SPSC queue, engine -> callback).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/Config.h"
#include "engine/queues/LiveEvent.h"

namespace nextbeat::io {

class AudioOutput : public engine::OutputSink {
 public:
  // Chooses the API (audio.api; auto = JACK when a server runs, else
  // PulseAudio, else ALSA; never starts JACK) and the device (audio.device:
  // a substring of its name, "" = the API's default output), loads
  // audio.soundfont, sets audio.program on every channel but 9 (drums), and
  // starts a stereo float stream of about audio.buffer_frames frames at
  // audio.sample_rate. On JACK the server's rate and period win (RtAudio
  // cannot resample): see sample_rate() and buffer_frames(). Throws
  // std::runtime_error naming the soundfont path, or the API or device and
  // what went wrong. Takes a second or more (the GM soundfont is 140 MB,
  // loaded whole so that nothing is read from disk on the audio thread).
  explicit AudioOutput(const config::AudioConfig& config);
  ~AudioOutput() override;  // stop(), then frees the synth
  AudioOutput(const AudioOutput&) = delete;
  AudioOutput& operator=(const AudioOutput&) = delete;

  // Queues kNoteOn, kNoteOff, kProgram and kAllNotesOff for the audio
  // callback; other kinds are not audio and are ignored. `event.time_ns`
  // (steady clock) is when it must sound; a time before the block being
  // rendered plays at the block's start and counts as late. kAllNotesOff
  // acts at the next block: it drops every note event still pending and
  // releases every sounding note. A full queue drops the event and counts
  // it. called on: the engine thread (one producer). real-time safe: no
  // allocation, no locks.
  // A full queue never loses a note-off or an all-notes-off (OutputGuard);
  // flush() sends what is owed.
  void emit(const engine::OutputEvent& event) noexcept override;
  void flush() noexcept override;

  // Stops the stream (the callback has returned for good when this does)
  // and closes it. Idempotent. called on: the control thread.
  void stop() noexcept;

  // The server under the stream went away (a killed jackd): RtAudio closes
  // a JACK stream by itself then. suspend() lets it finish (up to a second),
  // closes what is left and forgets the RtAudio object; the synth and the
  // queue stay, and emit() goes on queueing (a full queue drops, counted).
  // resume() opens a stream again on the same API and device name (a JACK
  // server started again), after dropping every event queued meanwhile and
  // silencing the synth: nothing stale sounds. Throws std::runtime_error
  // when the stream cannot be opened (call it again later). Both: called on
  // the control thread, never while the other runs.
  void suspend() noexcept;
  void resume();
  // Whether the stream is open and running (false after the server went away).
  bool running() const noexcept;

  std::string api_name() const;                     // "jack", "pulse", "alsa"
  const std::string& device_name() const noexcept;  // as RtAudio names it
  int sample_rate() const noexcept;                 // Hz, the stream's and the synth's
  unsigned buffer_frames() const noexcept;          // frames per callback, as the API granted
  // How long after its time an event is heard: RtAudio's stream latency
  // (the API's and device's buffering), or one block when the API does not
  // say. [clock] source = "link" plays that much early. Control thread.
  std::int64_t latency_ns() const noexcept;
  // One sentence for the start-up log.
  std::string describe() const;

  std::uint64_t callbacks() const noexcept;       // audio blocks rendered
  std::uint64_t xruns() const noexcept;           // blocks RtAudio flagged as an output underflow
  std::uint64_t late_events() const noexcept;     // events whose time had passed at their block's start
  std::uint64_t dropped_events() const noexcept;  // note-ons, beats and clocks that found the queue full

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nextbeat::io
