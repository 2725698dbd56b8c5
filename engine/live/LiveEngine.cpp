#include "engine/live/LiveEngine.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/queues/SteadyTime.h"

namespace nextbeat::engine {
namespace {

using config::Control;
using config::ControlEffect;
using config::kNoControl;
constexpr std::size_t kContextCapacity = 16384;
constexpr std::int64_t kIdleWakeNs = 50'000'000;  // polls the clock at least this often

// Listening to harmony. A chord hint (split keyboard) counts this many times
// a melody note: the performer says what the harmony is.
constexpr double kHintWeight = 4.0;
// A melody note's weight for the chord window by where it falls: the bar's
// first beat, another beat, off the beat.
constexpr double kDownbeatWeight = 1.5;
constexpr double kBeatWeight = 1.0;
constexpr double kOffbeatWeight = 0.5;
// The last melody note counts as sounding (for clashes) this long after it
// ended: the rollout runs just before the beat, between two notes.
constexpr double kMelodyEchoBeats = 1.0;
// A note of nextbeat's that began at most this long before the performer's
// clashing note is still moved (the outputs end it and start the new pitch):
// within the time two players hear as together.
constexpr std::int64_t kRetuneLateNs = 30'000'000;

SamplingControls sampling_controls(const config::SamplingConfig& s,
                                   const std::optional<DetectedKey>& detected) noexcept {
  SamplingControls c;
  c.temperature = s.temperature;
  c.top_k = s.top_k;
  c.top_p = s.top_p;
  c.scale = static_cast<ScaleKind>(static_cast<int>(s.scale));  // the same scales in the same order
  if (s.key >= 0 && s.key < config::kKeyAuto) {
    c.key = s.key;
  } else if (s.key == config::kKeyAuto && detected) {
    // The detected key's own scale, whatever sampling.scale says: major, or
    // natural minor with its leading tone (harmonic minor), as minor tunes use both.
    c.key = detected->tonic;
    c.scale = detected->minor ? ScaleKind::kMinor : ScaleKind::kMajor;
    if (detected->minor) c.also_allowed.set(static_cast<std::size_t>((detected->tonic + 11) % kPitchClasses));
  }
  c.repetition_penalty = s.repetition_penalty;
  c.density = s.density;
  c.pitch_min = s.pitch_min;
  c.pitch_max = s.pitch_max;
  c.seed = static_cast<std::uint64_t>(s.seed);
  return c;
}

}  // namespace

std::int64_t SteadyClock::now_ns() const noexcept {
  return steady_now_ns();
}

std::vector<std::int64_t> LatencyLog::recent() const {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(count(), kSize));
  std::vector<std::int64_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = values_[i].load(std::memory_order_relaxed);
  return out;
}

double percentile_us(std::vector<std::int64_t> values_ns, double q) {
  if (values_ns.empty()) return 0;
  const auto k = static_cast<std::size_t>(q * static_cast<double>(values_ns.size() - 1));
  std::nth_element(values_ns.begin(), values_ns.begin() + static_cast<std::ptrdiff_t>(k), values_ns.end());
  return static_cast<double>(values_ns[k]) / 1000.0;
}

LiveEngine::LiveEngine(std::unique_ptr<LstmModel> model, const config::Config& config, OutputSink& out,
                       const Clock& clock, LinkTimeline* link)
    : settings_(std::make_unique<config::LiveSettings>(config::live_settings(config))),
      out_(out),
      clock_source_(clock),
      clock_(config.clock.tempo_bpm, clock.now_ns()),
      link_(link),
      sampler_(CodecSettings{}, engine::sampling_controls(settings_->sampling, std::nullopt)) {
  own_pending_.reserve(1024);
  plan_.reserve(1024);
  last_plan_.reserve(1024);
  context_.resize(kContextCapacity);
  own_on_since_.fill(-1);
  reset_out_pitches();
  cc_last_.fill(-1);
  use_clock_source();
  set_model(std::move(model));
  seed_ = static_cast<std::uint64_t>(settings_->sampling.seed);
  apply_settings();
  const std::int64_t n = now();
  next_beat_ = static_cast<std::int64_t>(std::ceil(clock_.beat_at(n)));
  if (settings_->clock.send_midi_clock && !clock_.midi_clock())
    out_.emit(OutputEvent{.time_ns = clock_.time_of(static_cast<double>(next_beat_)), .kind = OutputKind::kStart});
  prime();
}

LiveEngine::~LiveEngine() = default;

void LiveEngine::set_model(std::unique_ptr<LstmModel> model) {
  model_ = std::move(model);
  sampler_ = Sampler(model_->spec().codec, sampling_controls());
  model_->snapshot(saved_);
  bind_model();
}

void LiveEngine::bind_model() noexcept {
  const int old_tpb = tpb_;
  codec_ = model_->spec().codec;
  self_source_ = model_->spec().roles ? kRolesSelfSource : kPerformerSource;
  tpb_ = std::max(1, grid_per_beat(codec_));
  tick_offset_ = tick_offset_ / old_tpb * tpb_;
  last_tick_ = last_tick_ / old_tpb * tpb_;
  marks_.assign(1, MeterMark{0, settings_->clock.beats_per_bar});
  make_live_stream(codec_, stream_).set_grid(marks_, tick_offset_);
}

std::unique_ptr<ModelSwap> prepare_model_swap(std::unique_ptr<LstmModel> model) {
  const CodecSettings codec = model->spec().codec;
  auto swap = std::make_unique<ModelSwap>(ModelSwap{std::move(model), Sampler(codec, SamplingControls{}), {}});
  swap->model->snapshot(swap->saved);
  return swap;
}

SamplingControls LiveEngine::sampling_controls() const noexcept {
  return engine::sampling_controls(settings_->sampling, key_finder_.key());
}

void LiveEngine::apply_settings() noexcept {
  sampler_.adjust(sampling_controls());
  if (static_cast<std::uint64_t>(settings_->sampling.seed) != seed_) {
    seed_ = static_cast<std::uint64_t>(settings_->sampling.seed);
    sampler_.set_controls(sampling_controls());
  }
  if (!clock_.midi_clock() && std::abs(clock_.tempo_bpm() - settings_->clock.tempo_bpm) > 1e-9)
    clock_.set_tempo(settings_->clock.tempo_bpm, now());
}

void LiveEngine::use_clock_source() noexcept {
  const config::ClockSource source = settings_->clock.source;
  clock_.use_midi_clock(source == config::ClockSource::kMidi, now());
  const bool link = source == config::ClockSource::kLink && link_ != nullptr;
  clock_.use_link(link ? link_ : nullptr, static_cast<std::int64_t>(settings_->clock.link_latency_ms * 1e6), now());
  if (link) settings_->clock.tempo_bpm = std::clamp(clock_.tempo_bpm(), BeatClock::kMinTempo, BeatClock::kMaxTempo);
}

void LiveEngine::follow_link(std::int64_t now_ns) noexcept {
  const BeatClock::LinkChange change = clock_.follow_link(now_ns);
  if (change.tempo) {
    // The session's tempo (another peer's) is the one in force: echoed, and
    // not proposed back by apply_settings.
    settings_->clock.tempo_bpm = std::clamp(clock_.tempo_bpm(), BeatClock::kMinTempo, BeatClock::kMaxTempo);
    notifications_.push(Notification{Notification::Kind::kControlChanged, Control::kTempo, settings_->clock.tempo_bpm});
  }
  if (change.stopped) cancel_own();
  // The session's beat moved (or it started): go on from the next beat of
  // the session's grid, without counting the beats skipped as misses.
  if (change.jumped || change.started)
    next_beat_ = std::max(next_beat_, static_cast<std::int64_t>(std::ceil(clock_.beat_at(now_ns))));
}

// ---- Time --------------------------------------------------------------------------

std::int64_t LiveEngine::tick_at(std::int64_t t_ns) const noexcept {
  // events: the nearest tick, as the batch encoder rounds; pianoroll: the frame it falls in.
  const std::int64_t grid = stream_->grid_tick(clock_.beat_at(t_ns) * tpb_);
  return std::max<std::int64_t>(grid + tick_offset_, last_tick_);
}

std::int64_t LiveEngine::time_of_tick(std::int64_t tick) const noexcept {
  return clock_.time_of(static_cast<double>(tick - tick_offset_) / tpb_);
}

void LiveEngine::rebase() noexcept {
  // The clock's position jumped (MIDI start, song position): keep the grid
  // going forward from the last tick, on a beat boundary, with the bar count
  // restarting there.
  const std::int64_t n = now();
  const auto clock_ticks = static_cast<std::int64_t>(std::floor(clock_.beat_at(n) * tpb_));
  const std::int64_t next_beat_tick = (last_tick_ + tpb_) / tpb_ * tpb_;
  tick_offset_ = next_beat_tick - clock_ticks / tpb_ * tpb_;
  stream_->set_grid(marks_, tick_offset_);
  next_beat_ = static_cast<std::int64_t>(std::ceil(clock_.beat_at(n)));
}

// ---- Feeding the live state -------------------------------------------------------

void LiveEngine::step(const Step& s) noexcept {
  model_->step(s);
  stats_.model_steps.fetch_add(1, std::memory_order_relaxed);
}

void LiveEngine::feed_note(std::int64_t tick, int pitch, int velocity, bool own) noexcept {
  const std::uint8_t source = own ? self_source_ : performer_source();
  tick = std::max(tick, last_tick_);
  last_tick_ = tick;
  if (!priming_) remember(tick, pitch, velocity, own);
  stream_->note(tick, pitch, velocity, source, [this](const Step& s) noexcept { step(s); });
}

void LiveEngine::feed_own_until(std::int64_t tick) noexcept {
  std::size_t n = 0;
  while (n < own_pending_.size() && own_pending_[n].tick <= tick) {
    const OwnEvent& e = own_pending_[n];
    feed_note(e.tick, e.pitch, e.velocity, true);
    ++n;
  }
  own_pending_.erase(own_pending_.begin(), own_pending_.begin() + static_cast<std::ptrdiff_t>(n));
}

std::uint8_t LiveEngine::performer_source() const noexcept {
  const config::Mode mode = settings_->engine.mode;
  const bool alone = mode == config::Mode::kContinue || mode == config::Mode::kCallResponse;
  return model_->spec().plays_alone && alone ? kRolesSelfSource : kPerformerSource;
}

void LiveEngine::remember(std::int64_t tick, int pitch, int velocity, bool own) noexcept {
  context_[context_head_] = ContextEvent{static_cast<double>(tick) / tpb_, static_cast<std::uint8_t>(pitch),
                                         static_cast<std::uint8_t>(velocity), own};
  context_head_ = (context_head_ + 1) % context_.size();
  context_size_ = std::min(context_size_ + 1, context_.size());
}

void LiveEngine::prime() noexcept {
  // Back to a fresh state, then the last context_beats beats of what was
  // heard (both parts), so that a swapped model or a reset starts in the music.
  priming_ = true;
  model_->reset();
  const std::int64_t now_tick = tick_at(now());
  const std::int64_t start = std::max<std::int64_t>(0, now_tick - std::int64_t{settings_->engine.context_beats} * tpb_);
  stream_->reset(start);
  const std::size_t first = (context_head_ + context_.size() - context_size_) % context_.size();
  for (std::size_t i = 0; i < context_size_; ++i) {
    const ContextEvent& e = context_[(first + i) % context_.size()];
    const std::int64_t tick = std::llround(e.beat * tpb_);
    if (tick < start) continue;
    feed_note(tick, e.pitch, e.velocity, e.own);
  }
  // Pianoroll: the frames up to now close (events: nothing to feed without an event).
  stream_->advance(now_tick, kPerformerSource, [this](const Step& s) noexcept { step(s); });
  priming_ = false;
}

// ---- Inputs ------------------------------------------------------------------------

void LiveEngine::handle(const InputEvent& event) noexcept {
  stats_.events.fetch_add(1, std::memory_order_relaxed);
  const bool fallback = clock_.midi_fallback();
  switch (event.kind) {
    case InputKind::kNoteOn:
      performer_note(event, true);
      break;
    case InputKind::kNoteOff:
      performer_note(event, false);
      break;
    case InputKind::kControlChange:
      control_change(event);
      break;
    case InputKind::kClock:
      clock_.midi_tick(event.time_ns);
      if (fallback && !clock_.midi_fallback())
        notifications_.push(Notification{.kind = Notification::Kind::kClockSource, .value = 1});
      break;
    case InputKind::kStart:
      cancel_own();
      clock_.midi_start(event.time_ns);
      if (fallback) notifications_.push(Notification{.kind = Notification::Kind::kClockSource, .value = 1});
      rebase();
      break;
    case InputKind::kContinue:
      clock_.midi_continue(event.time_ns);
      if (fallback) notifications_.push(Notification{.kind = Notification::Kind::kClockSource, .value = 1});
      next_beat_ = static_cast<std::int64_t>(std::ceil(clock_.beat_at(event.time_ns)));
      break;
    case InputKind::kStop:
      clock_.midi_stop(event.time_ns);
      if (fallback) notifications_.push(Notification{.kind = Notification::Kind::kClockSource, .value = 1});
      cancel_own();
      break;
    case InputKind::kSongPosition:
      clock_.midi_song_position(event.a);
      rebase();
      break;
    case InputKind::kControl:
      if (event.control < config::kControlCount) set_control(static_cast<Control>(event.control), event.value);
      break;
    case InputKind::kLearn:
      if (event.control < config::kControlCount) learning_ = static_cast<Control>(event.control);
      break;
  }
}

double LiveEngine::listen_beat(std::int64_t t_ns) const noexcept {
  return clock_.beat_at(t_ns) + static_cast<double>(tick_offset_) / tpb_;
}

bool LiveEngine::chord_hint(const InputEvent& event, bool on) noexcept {
  const auto pitch = static_cast<std::size_t>(event.a);
  const bool hint = on ? event.a < settings_->split_note && !performer_held_.test(pitch) : hints_held_.test(pitch);
  if (!hint) return false;
  const double beat = listen_beat(event.time_ns);
  if (on) {
    stats_.notes_in.fetch_add(1, std::memory_order_relaxed);
    heard_performer_ = true;  // accompany plays to chords alone; continue and call-response are not cut short
    hints_held_.set(pitch);
    key_finder_.window().note_on(event.a, beat, kHintWeight);
    chord_finder_.window().note_on(event.a, beat, kHintWeight);
  } else {
    hints_held_.reset(pitch);
    key_finder_.window().note_off(event.a, beat);
    chord_finder_.window().note_off(event.a, beat);
  }
  return true;
}

void LiveEngine::performer_note(const InputEvent& event, bool on) noexcept {
  if (event.a < 0 || event.a > 127 || stopped_) return;
  // Chord hints are harmony, not melody: the model never hears them (with
  // roles, the performer's part is the melody; a block chord there would be
  // out of its training), nor do they stop nextbeat's part or count as a phrase.
  if (chord_hint(event, on)) return;
  // A note-off of a key the performer does not hold says nothing (and costs
  // a model step): a flood of them, or the off of a shed note-on, is ignored.
  if (!on && !performer_held_.test(static_cast<std::size_t>(event.a))) return;
  const std::int64_t tick = tick_at(event.time_ns);
  if (on) avoid_clashes(event.a, tick);  // before the notes of this tick are fed as they were planned
  feed_own_until(tick);
  const std::int64_t started = now();  // the event's own steps from here
  const auto pitch = static_cast<std::size_t>(event.a);
  if (on) {
    stats_.notes_in.fetch_add(1, std::memory_order_relaxed);
    heard_performer_ = true;
    answered_ = false;  // a new phrase
    performer_held_.set(pitch);
    // The performer takes over: continue and call-response stop at once.
    if (playing_ && settings_->engine.mode != config::Mode::kAccompany) cancel_own();
  } else {
    performer_held_.reset(pitch);
  }
  last_performer_beat_ = clock_.beat_at(event.time_ns);
  const double beat = listen_beat(event.time_ns);
  if (on) {
    // Beat strength, for the chord window: where in the bar the note falls.
    const double in_beat = last_performer_beat_ - std::floor(last_performer_beat_);
    const bool on_beat = in_beat < 0.1 || in_beat > 0.9;
    const auto bar_beat =
        static_cast<std::int64_t>(std::floor(last_performer_beat_ + 0.1)) % std::max(1, settings_->clock.beats_per_bar);
    const double strength = !on_beat ? kOffbeatWeight : bar_beat == 0 ? kDownbeatWeight : kBeatWeight;
    key_finder_.window().note_on(event.a, beat, 1.0);
    chord_finder_.window().note_on(event.a, beat, strength);
    last_melody_pitch_ = event.a;
  } else {
    key_finder_.window().note_off(event.a, beat);
    chord_finder_.window().note_off(event.a, beat);
    if (event.a == last_melody_pitch_) last_melody_beat_ = beat;
  }
  feed_note(tick, event.a, on ? std::clamp<int>(event.b, 1, 127) : 0, false);
  const std::int64_t done = now();
  stats_.step_ns.add(done - event.time_ns);
  stats_.step_compute_ns.add(done - started);
}

void LiveEngine::listen() noexcept {
  const double beat = listen_beat(now());
  if (key_finder_.evaluate(beat) && settings_->sampling.key == config::kKeyAuto) {
    sampler_.adjust(sampling_controls());
    const DetectedKey key = *key_finder_.key();
    notifications_.push(Notification{.kind = Notification::Kind::kKeyDetected,
                                     .control = Control::kKey,
                                     .value = static_cast<double>(key.tonic),
                                     .minor = key.minor});
  }
  // The key the chords are read in: the detected one (auto), the configured one, or none.
  std::optional<DetectedKey> key;
  const int configured = settings_->sampling.key;
  if (configured == config::kKeyAuto) {
    key = key_finder_.key();
  } else if (configured >= 0) {
    key = DetectedKey{configured, settings_->sampling.scale == config::Scale::kMinor};
  }
  chord_ = chord_finder_.estimate(beat, key);
  PitchClassSet sounding;
  for (std::size_t p = 0; p < 128; ++p)
    if (performer_held_[p]) sounding.set(p % kPitchClasses);
  if (sounding.none() && last_melody_pitch_ >= 0 && beat - last_melody_beat_ <= kMelodyEchoBeats)
    sounding.set(static_cast<std::size_t>(last_melody_pitch_ % kPitchClasses));
  sampler_.set_pitch_class_bias(harmony_bias(chord_, sounding, settings_->sampling.chord_follow));
}

void LiveEngine::control_change(const InputEvent& event) noexcept {
  const auto cc = static_cast<std::size_t>(event.a & 127);
  auto& bindings = settings_->cc_control;
  if (learning_) {
    // MIDI-learn, decided here and only here: this controller now drives the
    // control, and nothing else drives it. The control thread mirrors the
    // binding into its config ([cc], for /nextbeat/save) from the notification.
    const auto id = static_cast<std::uint8_t>(*learning_);
    std::replace(bindings.begin(), bindings.end(), id, kNoControl);
    bindings[cc] = id;
    notifications_.push(Notification{Notification::Kind::kLearned, *learning_, 0, static_cast<int>(cc)});
    learning_.reset();
    cc_last_[cc] = static_cast<std::int8_t>(event.b);
    return;
  }
  const int previous = cc_last_[cc];
  cc_last_[cc] = static_cast<std::int8_t>(event.b);
  if (bindings[cc] == kNoControl) return;
  const auto& spec = config::control_spec(static_cast<Control>(bindings[cc]));
  if (spec.type == config::ControlType::kAction) {
    if (event.b >= 64 && previous < 64) set_control(spec.id, 1);  // a press, not a hold
    return;
  }
  set_control(spec.id, config::cc_to_value(spec, event.b));
}

void LiveEngine::set_control(Control id, double value) noexcept {
  // A mode, key or scale change while playing waits for the bar line (or
  // beat, engine.quantize): begin_beat applies it and echoes it then.
  for (std::size_t i = 0; i < kQuantized.size(); ++i) {
    if (kQuantized[i] != id) continue;
    if (quantizing()) {
      pending_controls_[i] = value;
    } else {
      apply_control_now(id, value, static_cast<std::int64_t>(std::floor(clock_.beat_at(now()))), false);
    }
    return;
  }
  const auto& spec = config::control_spec(id);
  config::LiveSettings& settings = *settings_;
  // Notes end on the channel they started on: a channel change ends them first.
  if (spec.effect == ControlEffect::kChannel) cancel_own();
  const config::Mode mode = settings.engine.mode;
  config::apply_control(settings, id, value);
  double echo = config::control_value(settings, id);
  switch (spec.effect) {
    case ControlEffect::kRead:
      break;
    case ControlEffect::kSampler:
    case ControlEffect::kTempo:
    case ControlEffect::kChannel:
      apply_settings();
      break;
    case ControlEffect::kMode:
      if (settings.engine.mode != mode) {
        cancel_own();
        answered_ = false;
      }
      break;
    case ControlEffect::kProgram:
      out_.emit(OutputEvent{.time_ns = now(),
                            .kind = OutputKind::kProgram,
                            .channel = static_cast<std::uint8_t>(settings.channel - 1),
                            .velocity = static_cast<std::uint8_t>(settings.program)});
      break;
    case ControlEffect::kMute:
      if (settings.muted) cancel_own();
      break;
    case ControlEffect::kTap:
      if (!clock_.tap(now())) return;
      settings.clock.tempo_bpm = clock_.tempo_bpm();
      id = Control::kTempo;  // what changed is the tempo
      echo = settings.clock.tempo_bpm;
      break;
    case ControlEffect::kReset:
      cancel_own();
      context_size_ = 0;
      key_finder_.reset(listen_beat(now()));
      chord_finder_.reset(listen_beat(now()));
      hints_held_.reset();
      last_melody_pitch_ = -1;
      heard_performer_ = false;
      prime();
      echo = 1;
      break;
    case ControlEffect::kPanic:
      cancel_own();
      out_.emit(OutputEvent{.time_ns = now(), .kind = OutputKind::kAllNotesOff});
      echo = 1;
      break;
  }
  notifications_.push(Notification{Notification::Kind::kControlChanged, id, echo});
  echo_detected_key(id);
}

// ---- Time passing, beats ------------------------------------------------------------

void LiveEngine::advance() noexcept {
  if (stopped_) return;
  // Nothing plays any more (the clock stopped, quantize set to none): what
  // waited for a bar line takes effect now.
  if (change_pending() && !quantizing())
    apply_pending(static_cast<std::int64_t>(std::floor(clock_.beat_at(now()))), true);
  const std::int64_t n = now();
  if (clock_.check_midi_lost(n))
    notifications_.push(Notification{.kind = Notification::Kind::kClockSource, .value = 0});
  if (clock_.link()) follow_link(n);
  const std::int64_t tick = tick_at(n);
  feed_own_until(tick);
  stream_->advance(tick, kPerformerSource, [this](const Step& s) noexcept { step(s); });
  if (!clock_.running()) {
    next_beat_ = std::max(next_beat_, static_cast<std::int64_t>(std::ceil(clock_.beat_at(n))));
    return;
  }
  const auto budget_ns = static_cast<std::int64_t>(settings_->engine.latency_budget_ms * 1e6);
  // After a stall (a model swap, a slow machine), beats already gone are skipped, counted as misses.
  const auto current = static_cast<std::int64_t>(std::floor(clock_.beat_at(n)));
  if (next_beat_ < current) {
    stats_.misses.fetch_add(static_cast<std::uint64_t>(current - next_beat_), std::memory_order_relaxed);
    next_beat_ = current;
  }
  while (n >= clock_.time_of(static_cast<double>(next_beat_)) - budget_ns && !stopped_) {
    begin_beat(next_beat_);
    ++next_beat_;
  }
}

std::int64_t LiveEngine::next_wakeup_ns() const noexcept {
  const std::int64_t n = now();
  std::int64_t wake = n + kIdleWakeNs;
  if (clock_.running()) {
    const auto budget_ns = static_cast<std::int64_t>(settings_->engine.latency_budget_ms * 1e6);
    wake = std::min(wake, clock_.time_of(static_cast<double>(next_beat_)) - budget_ns);
  }
  if (!own_pending_.empty()) wake = std::min(wake, time_of_tick(own_pending_.front().tick));
  const std::int64_t stream_tick = stream_->next_step_tick();
  if (stream_tick != std::numeric_limits<std::int64_t>::max()) wake = std::min(wake, time_of_tick(stream_tick));
  return wake;
}

void LiveEngine::begin_beat(std::int64_t beat) noexcept {
  const std::int64_t begin = beat * tpb_ + tick_offset_;
  const std::int64_t beat_ns = time_of_tick(begin);
  stats_.beats.fetch_add(1, std::memory_order_relaxed);
  out_.emit(OutputEvent{.time_ns = beat_ns, .kind = OutputKind::kBeat, .beat = beat});
  if (change_pending()) apply_pending(beat, false);
  if (settings_->clock.send_midi_clock && !clock_.midi_clock()) {
    for (int i = 0; i < BeatClock::kMidiClocksPerBeat; ++i)
      out_.emit(
          OutputEvent{.time_ns = clock_.time_of(static_cast<double>(beat) + double(i) / BeatClock::kMidiClocksPerBeat),
                      .kind = OutputKind::kClock});
  }
  listen();
  if (!should_play(beat)) {
    release_own_at(begin);
    playing_ = false;
    return;
  }
  const std::int64_t started = now();
  if (started >= beat_ns) {  // too late even to start
    stats_.misses.fetch_add(1, std::memory_order_relaxed);
    play_fallback(beat);
    return;
  }
  if (!roll_out(beat, beat_ns)) {
    stats_.misses.fetch_add(1, std::memory_order_relaxed);
    play_fallback(beat);
    return;
  }
  stats_.rollout_ns.add(now() - started);
  stats_.predictions.fetch_add(1, std::memory_order_relaxed);
  schedule_plan(beat);
  playing_ = true;
}

bool LiveEngine::should_play(std::int64_t beat) noexcept {
  if (settings_->muted || stopped_ || !heard_performer_) return false;
  const bool paused =
      performer_held_.none() && static_cast<double>(beat) - last_performer_beat_ >= settings_->engine.gap_beats - 1e-9;
  switch (settings_->engine.mode) {
    case config::Mode::kAccompany:
      return true;
    case config::Mode::kContinue:
      return paused;
    case config::Mode::kCallResponse:
      if (!paused) return false;
      if (!answered_) {
        answered_ = true;
        response_end_beat_ = beat + settings_->engine.response_beats;
      }
      return beat < response_end_beat_;
  }
  return false;
}

bool LiveEngine::roll_out(std::int64_t beat, std::int64_t deadline_ns) noexcept {
  model_->snapshot(saved_);
  RolloutRequest request;
  request.begin = beat * tpb_ + tick_offset_;
  request.end = request.begin + tpb_;
  request.pending = own_pending_;
  request.on_since = own_on_since_;
  request.silent = own_silent_;
  // The model's frames hold every part; nextbeat plays what the performer does not hold.
  request.held_by_others = performer_held_;
  request.source = self_source_;
  request.max_notes_per_beat = kMaxNotesPerBeat;
  request.max_note_beats = settings_->engine.max_note_beats;
  request.max_voices = settings_->engine.max_voices;
  plan_.clear();
  const double velocity_scale = settings_->sampling.velocity_scale;
  // The rollout steps a copy of the state (restored below): not counted in model_steps.
  const bool done = stream_->roll_out(
      *model_, sampler_, request, [this](const Step& s) noexcept { model_->step(s); },
      [&](std::int64_t tick, int pitch, int velocity, NoteRole role) noexcept {
        if (velocity > 0) velocity = std::clamp(static_cast<int>(std::lround(velocity * velocity_scale)), 1, 127);
        plan_.push_back(OwnEvent{tick, static_cast<std::uint8_t>(pitch), static_cast<std::uint8_t>(velocity), role});
      },
      [&]() noexcept { return now() > deadline_ns; });
  model_->restore(saved_);
  // Checked before each sampled token, the deadline can still pass in the
  // rollout's last steps (one SHIFT across the whole beat is a single step):
  // a plan finished late is dropped too, as the budget promises.
  return done && now() <= deadline_ns;
}

void LiveEngine::schedule_plan(std::int64_t beat) noexcept {
  for (const OwnEvent& e : plan_) {
    // density's extra notes sound but are never fed; its silent ones are fed but never sound.
    if (!fed(e.role)) {
      emit_note(e.tick, e.pitch, e.velocity);
      continue;
    }
    if (e.velocity == 0 && own_on_since_[e.pitch] < 0) continue;
    if (sounds(e.role)) emit_note(e.tick, e.pitch, e.velocity);
    own_pending_.push_back(e);
    own_on_since_[e.pitch] = e.velocity > 0 ? e.tick : -1;
    own_silent_[e.pitch] = e.velocity > 0 && !sounds(e.role);
  }
  last_plan_.assign(plan_.begin(), plan_.end());
  last_plan_beat_ = beat;
}

void LiveEngine::play_fallback(std::int64_t beat) noexcept {
  const std::int64_t begin = beat * tpb_ + tick_offset_;
  switch (settings_->engine.fallback) {
    case config::Fallback::kRest:
      release_own_at(begin);
      return;
    case config::Fallback::kHold: {
      // Keep what sounds, but never past max_note_beats: a note that reaches
      // it during this beat ends on that tick (ending it at the next beat
      // held it up to a beat too long).
      const auto max_ticks = std::max<std::int64_t>(1, std::llround(settings_->engine.max_note_beats * tpb_));
      for (std::size_t p = 0; p < 128; ++p) {
        if (own_on_since_[p] >= 0 && own_on_since_[p] + max_ticks < begin + tpb_) {
          const std::int64_t end = std::max(begin, own_on_since_[p] + max_ticks);
          if (!own_silent_[p]) emit_note(end, static_cast<int>(p), 0);
          push_pending(OwnEvent{end, static_cast<std::uint8_t>(p), 0});
          own_on_since_[p] = -1;
          own_silent_.reset(p);
        }
      }
      return;
    }
    case config::Fallback::kRepeat: {
      release_own_at(begin);
      if (last_plan_beat_ < 0 || last_plan_.empty()) return;
      const std::int64_t shift = (beat - last_plan_beat_) * tpb_;
      plan_.clear();
      for (const OwnEvent& e : last_plan_) plan_.push_back(OwnEvent{e.tick + shift, e.pitch, e.velocity, e.role});
      schedule_plan(beat);
      return;
    }
  }
}

void LiveEngine::reset_out_pitches() noexcept {
  for (std::size_t p = 0; p < out_pitch_.size(); ++p) out_pitch_[p] = static_cast<std::uint8_t>(p);
}

void LiveEngine::avoid_clashes(int pitch, std::int64_t tick) noexcept {
  if (!(settings_->sampling.chord_follow > 0) || plan_.empty()) return;
  PitchClassSet held;
  held.set(static_cast<std::size_t>(pitch % kPitchClasses));
  for (std::size_t p = 0; p < 128; ++p)
    if (performer_held_[p]) held.set(p % kPitchClasses);
  const PitchClassSet clashes = clashing_classes(held);
  const PitchClassSet chord = chord_ ? chord_->tones() : PitchClassSet();
  const auto pc = [](int p) { return static_cast<std::size_t>(p % kPitchClasses); };
  const auto index = [](int p) { return static_cast<std::size_t>(p); };
  // plan_ holds what was sent (its pitches as sent); out_pitch_ the notes
  // that sound under another pitch than the model's until their note-off.
  const auto model_pitch_of = [&](int sent) {
    for (std::size_t q = 0; q < 128; ++q)
      if (out_pitch_[q] == sent && static_cast<int>(q) != sent) return static_cast<int>(q);
    return sent;
  };
  const auto taken = [&](int p) {
    if (own_on_since_[index(p)] >= 0 || model_pitch_of(p) != p) return true;
    return std::any_of(plan_.begin(), plan_.end(), [&](const OwnEvent& e) { return e.pitch == p; });
  };
  for (std::size_t i = 0; i < plan_.size(); ++i) {
    OwnEvent& on = plan_[i];
    if (on.tick < tick || on.velocity == 0 || !sounds(on.role) || !clashes[pc(on.pitch)]) continue;
    if (time_of_tick(on.tick) < now() - kRetuneLateNs) continue;  // it has sounded a while: no change mid-note
    // Its end: sent with it, or still to come (the note goes on past this beat).
    const auto off = std::find_if(plan_.begin() + static_cast<std::ptrdiff_t>(i) + 1, plan_.end(),
                                  [&](const OwnEvent& e) { return e.pitch == on.pitch && e.velocity == 0; });
    if (off == plan_.end() && !fed(on.role)) continue;  // density's extra notes end within their beat
    int best = -1;
    int best_cost = std::numeric_limits<int>::max();
    for (const int step : {-1, 1, -2, 2}) {
      const int candidate = on.pitch + step;
      if (!sampler_.allows(candidate) || clashes[pc(candidate)] || taken(candidate)) continue;
      const int cost = 2 * std::abs(step) + (chord[pc(candidate)] ? 0 : 3);  // a chord tone 2 away beats a step
      if (cost < best_cost) {
        best = candidate;
        best_cost = cost;
      }
    }
    // Nothing near fits (the key, the performer, nextbeat's own chord): it
    // does not sound at all, better than a clash.
    const std::uint8_t to = best < 0 ? kRetuneSilence : static_cast<std::uint8_t>(best);
    out_.emit(OutputEvent{.time_ns = time_of_tick(on.tick),
                          .kind = OutputKind::kRetune,
                          .channel = static_cast<std::uint8_t>(settings_->channel - 1),
                          .pitch = on.pitch,
                          .velocity = on.velocity,
                          .to_pitch = to});
    // The model keeps the note it chose; only what sounds moves. A note-off
    // sent already is retuned with it by the outputs; one still to come is
    // sent under the new pitch, or not at all (emit_note).
    if (off == plan_.end()) out_pitch_[index(model_pitch_of(on.pitch))] = to;
    if (best < 0) {
      on.role = NoteRole::kSilent;  // what it is now: the model heard it, nobody else
      stats_.silenced.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (off != plan_.end()) off->pitch = to;
    on.pitch = to;
    stats_.retuned.fetch_add(1, std::memory_order_relaxed);
  }
}

void LiveEngine::emit_note(std::int64_t tick, int pitch, int velocity) noexcept {
  // A note moved off a clash (avoid_clashes) ends under the pitch it sounds at.
  const std::uint8_t sent =
      velocity > 0 ? static_cast<std::uint8_t>(pitch) : out_pitch_[static_cast<std::size_t>(pitch)];
  out_pitch_[static_cast<std::size_t>(pitch)] = static_cast<std::uint8_t>(pitch);
  if (sent == kRetuneSilence) return;  // it never sounded
  out_.emit(OutputEvent{.time_ns = time_of_tick(tick),
                        .kind = velocity > 0 ? OutputKind::kNoteOn : OutputKind::kNoteOff,
                        .channel = static_cast<std::uint8_t>(settings_->channel - 1),
                        .pitch = sent,
                        .velocity = static_cast<std::uint8_t>(velocity)});
  if (velocity > 0) stats_.notes_out.fetch_add(1, std::memory_order_relaxed);
}

void LiveEngine::release_own_at(std::int64_t tick) noexcept {
  for (std::size_t p = 0; p < 128; ++p) {
    if (own_on_since_[p] < 0) continue;
    const std::int64_t at = std::max(tick, own_on_since_[p]);
    if (!own_silent_[p]) emit_note(at, static_cast<int>(p), 0);
    push_pending(OwnEvent{at, static_cast<std::uint8_t>(p), 0});
    own_on_since_[p] = -1;
    own_silent_.reset(p);
  }
}

void LiveEngine::push_pending(const OwnEvent& event) noexcept {
  own_pending_.push_back(event);
  // Keep own_pending_ in tick order without allocating (std::stable_sort
  // may): a note-off lands after the events at or before its tick.
  for (std::size_t i = own_pending_.size() - 1; i > 0 && own_pending_[i - 1].tick > own_pending_[i].tick; --i)
    std::swap(own_pending_[i - 1], own_pending_[i]);
}

void LiveEngine::cancel_own() noexcept {
  const bool any = !own_pending_.empty() ||
                   std::any_of(own_on_since_.begin(), own_on_since_.end(), [](std::int64_t t) { return t >= 0; });
  if (!any) {
    playing_ = false;
    return;
  }
  const std::int64_t n = now();
  const std::int64_t tick = tick_at(n);
  feed_own_until(tick);  // what has sounded stays in the state
  own_pending_.clear();
  for (std::size_t p = 0; p < 128; ++p) {
    if (own_on_since_[p] < 0) continue;
    if (own_on_since_[p] <= tick) feed_note(tick, static_cast<int>(p), 0, true);
    own_on_since_[p] = -1;
  }
  own_silent_.reset();
  reset_out_pitches();
  out_.emit(OutputEvent{.time_ns = n, .kind = OutputKind::kAllNotesOff});
  stats_.cancels.fetch_add(1, std::memory_order_relaxed);
  playing_ = false;
}

// ---- Model swap, reload, stop -------------------------------------------------------

// ---- Quantised changes (engine.quantize) -------------------------------------------

bool LiveEngine::quantizing() const noexcept {
  return settings_->engine.quantize != config::Quantize::kNone && clock_.running() && heard_performer_ && !stopped_;
}

bool LiveEngine::change_pending() const noexcept {
  return pending_swap_ != nullptr ||
         std::any_of(pending_controls_.begin(), pending_controls_.end(), [](const auto& v) { return v.has_value(); });
}

bool LiveEngine::at_change_point(std::int64_t beat) const noexcept {
  if (settings_->engine.quantize != config::Quantize::kBar) return true;
  const std::int64_t bar = std::max(1, settings_->clock.beats_per_bar);
  return (beat % bar + bar) % bar == 0;  // clock beats: beat 0 is the song's first bar line
}

void LiveEngine::apply_pending(std::int64_t beat, bool force) noexcept {
  if (!force && !at_change_point(beat)) return;
  for (std::size_t i = 0; i < kQuantized.size(); ++i) {
    if (!pending_controls_[i]) continue;
    const double value = *pending_controls_[i];
    pending_controls_[i].reset();
    apply_control_now(kQuantized[i], value, beat, !force);
  }
  // The parts of the previous quantised swap must have gone back first
  // (the engine loop takes them every turn, long before the next bar).
  if (pending_swap_ && !replaced_swap_) {
    replaced_swap_ = install_model(std::move(pending_swap_));
    notifications_.push(Notification{.kind = Notification::Kind::kModelApplied, .beat = beat});
  }
}

void LiveEngine::apply_control_now(Control id, double value, std::int64_t beat, bool on_beat) noexcept {
  const config::Mode mode = settings_->engine.mode;
  config::apply_control(*settings_, id, value);
  if (id == Control::kMode) {
    if (settings_->engine.mode != mode) {
      // On a bar line, own notes end on it; at once, now.
      if (on_beat) {
        release_own_at(beat * tpb_ + tick_offset_);
      } else {
        cancel_own();
      }
      answered_ = false;
    }
  } else {
    apply_settings();  // key, scale: the sampler's controls
  }
  notifications_.push(Notification{.kind = Notification::Kind::kControlChanged,
                                   .control = id,
                                   .value = config::control_value(*settings_, id),
                                   .beat = beat});
  echo_detected_key(id);
}

void LiveEngine::echo_detected_key(Control id) noexcept {
  // Switched to "auto": say at once which key is followed, when one is known.
  if (id == Control::kKey && settings_->sampling.key == config::kKeyAuto && key_finder_.key()) {
    notifications_.push(Notification{.kind = Notification::Kind::kKeyDetected,
                                     .control = Control::kKey,
                                     .value = static_cast<double>(key_finder_.key()->tonic),
                                     .minor = key_finder_.key()->minor});
  }
}

std::unique_ptr<ModelSwap> LiveEngine::swap_model(std::unique_ptr<ModelSwap> swap) noexcept {
  if (quantizing()) {
    std::swap(pending_swap_, swap);  // a swap that was waiting and never played goes back
    return swap;
  }
  auto old = install_model(std::move(swap));
  notifications_.push(Notification{.kind = Notification::Kind::kModelApplied,
                                   .beat = static_cast<std::int64_t>(std::floor(clock_.beat_at(now())))});
  return old;
}

std::unique_ptr<ModelSwap> LiveEngine::install_model(std::unique_ptr<ModelSwap> swap) noexcept {
  cancel_own();
  // Swaps, not copies: what was built on the control thread takes the old
  // model's place, and the old parts go back in `swap` to be freed there.
  std::swap(model_, swap->model);
  std::swap(sampler_, swap->sampler);
  std::swap(saved_, swap->saved);
  bind_model();
  sampler_.set_controls(sampling_controls());  // reseeds; no allocation
  apply_settings();
  prime();
  return swap;
}

std::unique_ptr<config::LiveSettings> LiveEngine::reconfigure(std::unique_ptr<config::LiveSettings> settings) noexcept {
  if (settings->channel != settings_->channel || settings->engine.mode != settings_->engine.mode) cancel_own();
  settings->muted = settings_->muted;  // runtime state, not the config's
  std::swap(settings_, settings);
  use_clock_source();
  marks_.assign(1, MeterMark{0, settings_->clock.beats_per_bar});
  stream_->set_grid(marks_, tick_offset_);
  apply_settings();
  return settings;  // the old one, freed by the caller's thread
}

void LiveEngine::stop() noexcept {
  cancel_own();
  out_.emit(OutputEvent{.time_ns = now(), .kind = OutputKind::kAllNotesOff});
  if (settings_->clock.send_midi_clock && !clock_.midi_clock())
    out_.emit(OutputEvent{.time_ns = now(), .kind = OutputKind::kStop});
  stopped_ = true;
}

}  // namespace nextbeat::engine
