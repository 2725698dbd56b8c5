// The live engine: listens, keeps the model's state on what has sounded, and
// plays the next beat before it arrives (DESIGN.md "Threads and data flow",
// "Modes", "Controls", "Tempo").
//
// - Every performer event is fed to the model as it arrives, through the
//   codec's LiveStream (engine/codec/LiveStream.h; events: its tokens, one
//   streaming step each; pianoroll: the event marks the open frame, which is
//   one step when it closes). Nothing re-runs the window.
// - At next_beat - latency_budget the next beat is rolled out from a copy of
//   the state with the sampling controls; its notes go to the output sink
//   timestamped. A rollout not finished by the beat is dropped, the fallback
//   (rest | repeat | hold) plays and the miss is counted.
// - nextbeat's own part is fed to the model when its time comes, so the
//   state describes what was heard (both parts), with one exception for
//   density (NoteRole in LiveStream.h): the model hears its part as it
//   sampled it, the notes density left silent included and the extra notes
//   it added left out, so that it keeps its own rate and density scales it.
// - A rolling context (engine.context_beats) re-primes the state after a
//   model swap or a reset.
// - Every note-on it sends gets its note-off: max_note_beats, mode switch,
//   performer taking over, panic, model swap, mute and stop all end notes.
//
// Threads: everything here is called on the engine thread, except
// stats() (atomics, any thread). It never blocks and never logs; the model's
// packed step does not allocate (PackedLstm.h).
#pragma once

#include <array>
#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "config/Config.h"
#include "config/Controls.h"
#include "engine/codec/Grid.h"
#include "engine/codec/LiveStream.h"
#include "engine/live/BeatClock.h"
#include "engine/model/Model.h"
#include "engine/model/Sampler.h"
#include "engine/music/KeyFinder.h"
#include "engine/queues/LiveEvent.h"
#include "engine/queues/SpscQueue.h"

namespace nextbeat::engine {

// The engine's time source: the steady clock live, a fake one in tests.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now_ns() const noexcept = 0;
};

class SteadyClock final : public Clock {
 public:
  std::int64_t now_ns() const noexcept override;
};

// Recent latencies, written by the engine thread, read by any thread for
// reports (a torn read of one value is harmless there).
class LatencyLog {
 public:
  static constexpr std::size_t kSize = 4096;
  void add(std::int64_t ns) noexcept {
    const auto i = count_.fetch_add(1, std::memory_order_relaxed);
    values_[i % kSize].store(ns, std::memory_order_relaxed);
  }
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  // Copies the recent values (at most kSize).
  std::vector<std::int64_t> recent() const;
  // The index-th value added (from 0), if it is still held.
  std::optional<std::int64_t> at(std::uint64_t index) const noexcept {
    if (index >= count() || count() - index > kSize) return std::nullopt;
    return values_[index % kSize].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<std::int64_t>, kSize> values_{};
  std::atomic<std::uint64_t> count_{0};
};

// The q-quantile (0..1) of latencies in ns, in µs; 0 for none.
double percentile_us(std::vector<std::int64_t> values_ns, double q);

struct EngineStats {
  std::atomic<std::uint64_t> events{0};       // input events handled
  std::atomic<std::uint64_t> notes_in{0};     // performer note-ons
  std::atomic<std::uint64_t> model_steps{0};  // steps fed to the live state
  std::atomic<std::uint64_t> beats{0};        // beats passed
  std::atomic<std::uint64_t> predictions{0};  // beats rolled out in time
  std::atomic<std::uint64_t> misses{0};       // beats whose rollout missed its deadline
  std::atomic<std::uint64_t> notes_out{0};    // note-ons played by nextbeat
  std::atomic<std::uint64_t> cancels{0};      // own part stopped early (performer, mode, panic...)
  std::atomic<std::uint64_t> retuned{0};      // planned notes moved off a clash with a later performer note
  std::atomic<std::uint64_t> silenced{0};     // ... and those with no pitch near to move to, left silent
  LatencyLog step_ns;                         // per performer event: arrival (callback stamp) -> state updated
  LatencyLog step_compute_ns;                 // per performer event: the model steps alone
  LatencyLog rollout_ns;                      // per predicted beat: the rollout's duration
};

// From the engine to the control thread (OSC echo, MIDI-learn write-back).
struct Notification {
  // kClockSource: the MIDI clock went silent mid-song and the internal clock
  // took over (value 0), or the MIDI clock is followed again (value 1).
  // kKeyDetected: with sampling.key = "auto", the performer's key changed
  // (value: the tonic's pitch class; minor).
  // kModelApplied: a model swap took effect (at `beat`).
  enum class Kind : std::uint8_t { kControlChanged, kLearned, kClockSource, kKeyDetected, kModelApplied };
  Kind kind = Kind::kControlChanged;
  config::Control control = config::Control::kTemperature;
  double value = 0;    // kControlChanged
  int cc = -1;         // kLearned: the controller number now bound to `control`
  bool minor = false;  // kKeyDetected
  // A quantised change (mode, key, scale: kControlChanged; kModelApplied):
  // the clock beat from which it is in force (engine.quantize), -1 otherwise.
  std::int64_t beat = -1;
};

// What a model swap hands the engine thread: the model (loaded, packed and
// warmed up), a sampler sized for its outputs and a state buffer for its
// rollouts, all built on the control thread, so that the swap on the engine
// thread allocates nothing. The same object carries the old parts back.
struct ModelSwap {
  std::unique_ptr<LstmModel> model;
  Sampler sampler;
  LstmModel::State saved;
};
// called on: the control thread (allocates).
std::unique_ptr<ModelSwap> prepare_model_swap(std::unique_ptr<LstmModel> model);

class LiveEngine {
 public:
  // The source fed for the performer's notes, and for nextbeat's own notes
  // with a model trained without roles: such a model only ever saw source 0,
  // and a source it never saw would put its input out of distribution.
  // A model trained with roles (ModelSpec::roles) hears its own notes as
  // kRolesSelfSource in every mode: it learned to predict that part only.
  // In continue mode too: fed as the performer's, its own notes would be
  // answered as if they were the melody, while what it predicts is still
  // its part (self_source()). A roles model that plays alone hears the
  // performer's notes as its own in continue and call-response modes
  // (performer_source()): it plays in their pauses, alone.
  static constexpr std::uint8_t kPerformerSource = 0;
  static constexpr std::uint8_t kRolesSelfSource = 1;
  static constexpr int kMaxNotesPerBeat = 24;

  // `model` must be warmed up and owned by the engine from now on. `link`:
  // the Ableton Link session clock.source = "link" follows (null: that
  // source plays on the internal clock); it must outlive the engine, and
  // only the engine thread calls it from now on.
  LiveEngine(std::unique_ptr<LstmModel> model, const config::Config& config, OutputSink& out, const Clock& clock,
             LinkTimeline* link = nullptr);
  ~LiveEngine();
  LiveEngine(const LiveEngine&) = delete;
  LiveEngine& operator=(const LiveEngine&) = delete;

  // One input event (note, CC, clock, control). Never throws.
  void handle(const InputEvent& event) noexcept;
  // Lets time pass: feeds own notes that have sounded, rolls out beats whose
  // time has come. Call when next_wakeup_ns() is reached, and after handle().
  void advance() noexcept;
  // When advance() has work next (steady clock ns).
  std::int64_t next_wakeup_ns() const noexcept;

  // A new model with its parts (prepare_model_swap, off this thread); the old
  // ones come back in the same object, to be freed elsewhere. Own notes end;
  // the new state is primed from the rolling context.
  // real-time safe: no allocation, no locks.
  // While the performer plays and engine.quantize is bar or beat, the swap
  // waits for the next bar line (or beat): then nullptr comes back now, and
  // the old parts come back later from take_replaced_model(). A second swap
  // while one waits replaces it, and the one that never played comes back.
  std::unique_ptr<ModelSwap> swap_model(std::unique_ptr<ModelSwap> swap) noexcept;
  // The parts a quantised swap replaced, once it took effect (else nullptr).
  // real-time safe: no allocation, no locks.
  std::unique_ptr<ModelSwap> take_replaced_model() noexcept { return std::move(replaced_swap_); }
  // Whether a mode, key, scale or model change waits for its bar line.
  bool change_pending() const noexcept;
  // Settings from a reloaded config (SIGHUP), built on the control thread:
  // taken by pointer, the old ones returned to be freed there. Controls moved
  // since (and mute) are replaced by the new settings; mute is kept.
  // real-time safe: no allocation, no locks.
  std::unique_ptr<config::LiveSettings> reconfigure(std::unique_ptr<config::LiveSettings> settings) noexcept;
  // Ends every own note now and stops predicting (before exit).
  void stop() noexcept;

  bool pop_notification(Notification& out) noexcept { return notifications_.pop(out); }
  const EngineStats& stats() const noexcept { return stats_; }
  // The settings now in force (controls included). Engine thread, or tests.
  const config::LiveSettings& settings() const noexcept { return *settings_; }
  const LstmModel& model() const noexcept { return *model_; }
  const BeatClock& clock() const noexcept { return clock_; }
  // The source nextbeat's own notes are fed as, for the model now in use.
  std::uint8_t self_source() const noexcept { return self_source_; }
  // The source the performer's notes are fed as: kPerformerSource, but
  // kRolesSelfSource in continue and call-response modes with a model that
  // plays alone (ModelSpec::plays_alone).
  std::uint8_t performer_source() const noexcept;
  // Listening to harmony (KeyFinder.h): the performer's key as estimated
  // (followed when sampling.key = "auto") and the chord estimated at the last
  // beat (biasing the sampler when sampling.chord_follow > 0). Engine thread, or tests.
  std::optional<DetectedKey> detected_key() const noexcept { return key_finder_.key(); }
  std::optional<Chord> chord() const noexcept { return chord_; }
  // Whether nextbeat is playing its part now (for status).
  bool playing() const noexcept { return playing_.load(std::memory_order_relaxed); }

 private:
  using OwnEvent = GridNote;
  struct ContextEvent {
    double beat = 0;
    std::uint8_t pitch = 0;
    std::uint8_t velocity = 0;  // 0 = note-off
    bool own = false;           // nextbeat's note, not the performer's
  };

  void set_model(std::unique_ptr<LstmModel> model);
  void bind_model() noexcept;  // the codec's grid and live stream for model_
  void apply_settings() noexcept;
  SamplingControls sampling_controls() const noexcept;
  // The clock source of the settings (internal, MIDI, Link); on Link the
  // settings' tempo becomes the session's, so that nothing is proposed on joining.
  void use_clock_source() noexcept;
  // A Link session's tempo, beat and start/stop, read each turn.
  void follow_link(std::int64_t now_ns) noexcept;
  std::int64_t now() const noexcept { return clock_source_.now_ns(); }
  std::int64_t tick_at(std::int64_t t_ns) const noexcept;
  std::int64_t time_of_tick(std::int64_t tick) const noexcept;

  // Feeding the live state.
  // `own`: nextbeat's note (fed as self_source_), else the performer's (performer_source()).
  void feed_note(std::int64_t tick, int pitch, int velocity, bool own) noexcept;
  void feed_own_until(std::int64_t tick) noexcept;
  void step(const Step& s) noexcept;
  void rebase() noexcept;
  void prime() noexcept;
  void remember(std::int64_t tick, int pitch, int velocity, bool own) noexcept;
  // The performer's note `pitch` at `tick` came after nextbeat planned its
  // notes: those from `tick` on that would clash with it move to the nearest
  // pitch (1 or 2 semitones, a chord tone first) that clashes with nothing
  // the performer holds, is allowed by the key and is not nextbeat's already
  // (kRetune to the outputs), or, if none does, does not sound. The model
  // keeps what it chose: only the sound moves (out_pitch_). With
  // chord_follow > 0 only.
  void avoid_clashes(int pitch, std::int64_t tick) noexcept;
  void reset_out_pitches() noexcept;

  // Inputs.
  void performer_note(const InputEvent& event, bool on) noexcept;
  // Split keyboard: a note below midi.split_note (or the off of one) is a
  // chord hint, heard by the key and chord followers only; true if it was one.
  bool chord_hint(const InputEvent& event, bool on) noexcept;
  // The grid's beat (never goes back) at t: the harmony windows' time.
  double listen_beat(std::int64_t t_ns) const noexcept;
  // Once a beat, before its rollout: the key and chord estimates, the sampler's key (auto) and bias.
  void listen() noexcept;
  void control_change(const InputEvent& event) noexcept;
  void set_control(config::Control id, double value) noexcept;
  void echo_detected_key(config::Control id) noexcept;

  // Quantised changes (engine.quantize): whether a change now waits, and
  // what waits, applied by begin_beat at the bar line (or beat).
  bool quantizing() const noexcept;
  bool at_change_point(std::int64_t beat) const noexcept;
  // force: now, whatever the beat (nothing plays any more).
  void apply_pending(std::int64_t beat, bool force) noexcept;
  // on_beat: own notes end at `beat` (a bar line), else now.
  void apply_control_now(config::Control id, double value, std::int64_t beat, bool on_beat) noexcept;
  std::unique_ptr<ModelSwap> install_model(std::unique_ptr<ModelSwap> swap) noexcept;

  // Beats.
  void begin_beat(std::int64_t beat) noexcept;
  bool should_play(std::int64_t beat) noexcept;
  bool roll_out(std::int64_t beat, std::int64_t deadline_ns) noexcept;
  void play_fallback(std::int64_t beat) noexcept;
  void schedule_plan(std::int64_t beat) noexcept;
  // Adds an own event to own_pending_, keeping it in tick order.
  void push_pending(const OwnEvent& event) noexcept;
  void release_own_at(std::int64_t tick) noexcept;
  void cancel_own() noexcept;
  void emit_note(std::int64_t tick, int pitch, int velocity) noexcept;

  std::unique_ptr<config::LiveSettings> settings_;  // owned by the engine thread; controls change it
  OutputSink& out_;
  const Clock& clock_source_;
  std::uint8_t self_source_ = kPerformerSource;  // bind_model()
  std::unique_ptr<LstmModel> model_;
  CodecSettings codec_;
  int tpb_ = 12;  // grid ticks per beat: grid_per_beat(codec_)
  BeatClock clock_;
  LinkTimeline* link_ = nullptr;
  std::vector<MeterMark> marks_;
  // The codec's streaming half: note events into the model's steps (every
  // part, as fed), and the beat rollouts.
  LiveStreamSlot stream_;
  Sampler sampler_;
  LstmModel::State saved_;

  // What nextbeat plays: scheduled but not yet fed (sorted by tick), what is
  // sounding as scheduled (tick of the note-on, -1 = off), and the plan of the
  // beat being rolled out / the last beat (for the repeat fallback).
  std::vector<OwnEvent> own_pending_;
  std::array<std::int64_t, 128> own_on_since_{};
  // The pitch each of the model's notes sounds at: itself, or where
  // avoid_clashes moved it (kRetuneSilence: nowhere), until its note-off is
  // sent (emit_note).
  std::array<std::uint8_t, 128> out_pitch_{};
  std::bitset<128> own_silent_;  // those of own_on_since_ that density left silent (fed, never sounding)
  std::vector<OwnEvent> plan_;
  std::vector<OwnEvent> last_plan_;
  std::int64_t last_plan_beat_ = -1;

  // The performer.
  std::bitset<128> performer_held_;
  double last_performer_beat_ = -1e9;
  bool heard_performer_ = false;
  bool answered_ = false;  // call-response: this phrase has its answer
  std::int64_t response_end_beat_ = -1;

  // Listening to harmony: the performer's melody and chord hints, as pitch
  // classes in decaying windows (fixed arrays; KeyFinder.h).
  KeyFinder key_finder_;
  ChordFinder chord_finder_;
  std::optional<Chord> chord_;
  std::bitset<128> hints_held_;  // split keyboard: chord hints held (never in performer_held_)
  int last_melody_pitch_ = -1;
  double last_melody_beat_ = -1e9;

  // Rolling context: note events with beat positions (codec independent).
  std::vector<ContextEvent> context_;
  std::size_t context_head_ = 0;
  std::size_t context_size_ = 0;

  // Internal grid ticks never go back; a MIDI start or song position moves
  // the clock's beats, so the grid is the clock's plus this (whole beats).
  std::int64_t tick_offset_ = 0;
  std::int64_t last_tick_ = 0;
  bool priming_ = false;
  std::uint64_t seed_ = 0;

  std::int64_t next_beat_ = 0;        // the next beat to roll out (clock beats)
  std::atomic<bool> playing_{false};  // read by the control thread for status
  bool stopped_ = false;

  // MIDI CC: the last value of each controller (actions trigger on crossing
  // 64), and the control the next CC moved is bound to (MIDI-learn).
  std::array<std::int8_t, 128> cc_last_{};
  std::optional<config::Control> learning_;

  // Changes waiting for the next bar line: mode, key, scale (a value each),
  // a model swap, and the parts a waiting swap replaced (for the hand-back).
  static constexpr std::array<config::Control, 3> kQuantized{config::Control::kMode, config::Control::kKey,
                                                             config::Control::kScale};
  std::array<std::optional<double>, kQuantized.size()> pending_controls_{};
  std::unique_ptr<ModelSwap> pending_swap_;
  std::unique_ptr<ModelSwap> replaced_swap_;

  SpscQueue<Notification> notifications_{256};
  EngineStats stats_;
};

}  // namespace nextbeat::engine
