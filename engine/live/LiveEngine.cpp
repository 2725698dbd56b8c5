#include "engine/live/LiveEngine.h"

#include <algorithm>
#include <cmath>

#include "engine/codec/EventRollout.h"
#include "engine/queues/SteadyTime.h"

namespace nextbeat::engine {
namespace {

using config::Control;
constexpr std::uint8_t kNoControl = 0xFF;
constexpr std::size_t kContextCapacity = 16384;
constexpr std::int64_t kIdleWakeNs = 50'000'000;  // polls the clock at least this often

SamplingControls sampling_controls(const config::SamplingConfig& s) {
  SamplingControls c;
  c.temperature = s.temperature;
  c.top_k = s.top_k;
  c.top_p = s.top_p;
  c.key = config::key_pitch_class(s.key);
  c.scale = static_cast<ScaleKind>(static_cast<int>(s.scale));  // the same scales in the same order
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
                       const Clock& clock)
    : config_(config),
      out_(out),
      clock_source_(clock),
      clock_(config.clock.tempo_bpm, clock.now_ns()),
      encoder_(CodecSettings{}),
      position_(12, {}),
      steps_(step_storage_),
      sampler_(CodecSettings{}, sampling_controls(config.sampling)) {
  own_pending_.reserve(1024);
  plan_.reserve(1024);
  last_plan_.reserve(1024);
  context_.resize(kContextCapacity);
  own_on_since_.fill(-1);
  cc_last_.fill(-1);
  clock_.use_midi_clock(config_.clock.source == config::ClockSource::kMidi, now());
  set_model(std::move(model));
  seed_ = static_cast<std::uint64_t>(config_.sampling.seed);
  apply_settings();
  const std::int64_t n = now();
  next_beat_ = static_cast<std::int64_t>(std::ceil(clock_.beat_at(n)));
  if (config_.clock.send_midi_clock && !clock_.midi_clock())
    out_.emit(OutputEvent{.time_ns = clock_.time_of(static_cast<double>(next_beat_)), .kind = OutputKind::kStart});
  prime();
}

LiveEngine::~LiveEngine() = default;

void LiveEngine::set_model(std::unique_ptr<LstmModel> model) {
  const int old_tpb = tpb_;
  model_ = std::move(model);
  codec_ = model_->spec().codec;
  tpb_ = codec_.kind == CodecKind::kEvents ? codec_.ticks_per_beat : codec_.steps_per_beat;
  tick_offset_ = tick_offset_ / old_tpb * tpb_;
  last_tick_ = last_tick_ / old_tpb * tpb_;
  marks_.assign(1, MeterMark{0, config_.clock.beats_per_bar});
  encoder_ = EventEncoder(codec_);
  encoder_.set_meter_marks(marks_);
  position_ = GridPosition(tpb_, marks_);
  sampler_ = Sampler(codec_, sampling_controls(config_.sampling));
  own_velocity_bin_ = -1;
  model_->snapshot(saved_);
}

void LiveEngine::apply_settings() noexcept {
  sampler_.adjust(sampling_controls(config_.sampling));
  if (static_cast<std::uint64_t>(config_.sampling.seed) != seed_) {
    seed_ = static_cast<std::uint64_t>(config_.sampling.seed);
    sampler_.set_controls(sampling_controls(config_.sampling));
  }
  if (!clock_.midi_clock() && std::abs(clock_.tempo_bpm() - config_.clock.tempo_bpm) > 1e-9)
    clock_.set_tempo(config_.clock.tempo_bpm, now());
  cc_control_.fill(kNoControl);
  for (const auto& [name, cc] : config_.cc) {
    const auto* spec = config::find_control(name);
    if (spec != nullptr && cc >= 0 && cc < 128)
      cc_control_[static_cast<std::size_t>(cc)] = static_cast<std::uint8_t>(spec->id);
  }
}

// ---- Time --------------------------------------------------------------------------

std::int64_t LiveEngine::tick_at(std::int64_t t_ns) const noexcept {
  const double ticks = clock_.beat_at(t_ns) * tpb_;
  // events: the nearest tick, as the batch encoder rounds; pianoroll: the frame it falls in.
  const auto grid = codec_.kind == CodecKind::kEvents ? std::llround(ticks) : static_cast<long long>(std::floor(ticks));
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
  next_beat_ = static_cast<std::int64_t>(std::ceil(clock_.beat_at(n)));
}

// ---- Feeding the live state -------------------------------------------------------

void LiveEngine::step(const Step& s) noexcept {
  model_->step(s);
  stats_.model_steps.fetch_add(1, std::memory_order_relaxed);
}

void LiveEngine::feed_steps() noexcept {
  for (const Step& s : steps_.steps()) step(s);
  steps_.clear();
}

void LiveEngine::close_frames_until(std::int64_t tick) noexcept {
  while (frame_ < tick) {
    Step s;
    for (int k = 0; k < kKeys; ++k)
      if (sounding_[static_cast<std::size_t>(kLowestKey + k)] || struck_[static_cast<std::size_t>(kLowestKey + k)])
        s.frame.set(static_cast<std::size_t>(k));
    position_.locate(frame_ - tick_offset_, s);
    step(s);
    struck_.reset();
    ++frame_;
  }
}

void LiveEngine::feed_note(std::int64_t tick, int pitch, int velocity, std::uint8_t source) noexcept {
  tick = std::max(tick, last_tick_);
  last_tick_ = tick;
  if (!priming_) remember(tick, pitch, velocity);
  if (codec_.kind == CodecKind::kEvents) {
    if (velocity > 0) {
      while (!encoder_.note_on(tick, pitch, velocity, source, steps_)) feed_steps();
    } else {
      while (!encoder_.note_off(tick, pitch, source, steps_)) feed_steps();
    }
    feed_steps();
    return;
  }
  close_frames_until(tick);
  const auto p = static_cast<std::size_t>(pitch);
  if (velocity > 0) {
    sounding_.set(p);
    struck_.set(p);
  } else {
    sounding_.reset(p);
  }
}

void LiveEngine::feed_own_until(std::int64_t tick) noexcept {
  std::size_t n = 0;
  while (n < own_pending_.size() && own_pending_[n].tick <= tick) {
    const OwnEvent& e = own_pending_[n];
    feed_note(e.tick, e.pitch, e.velocity, kSelfSource);
    ++n;
  }
  own_pending_.erase(own_pending_.begin(), own_pending_.begin() + static_cast<std::ptrdiff_t>(n));
}

void LiveEngine::remember(std::int64_t tick, int pitch, int velocity) noexcept {
  context_[context_head_] = ContextEvent{static_cast<double>(tick) / tpb_, static_cast<std::uint8_t>(pitch),
                                         static_cast<std::uint8_t>(velocity)};
  context_head_ = (context_head_ + 1) % context_.size();
  context_size_ = std::min(context_size_ + 1, context_.size());
}

void LiveEngine::prime() noexcept {
  // Back to a fresh state, then the last context_beats beats of what was
  // heard (both parts), so that a swapped model or a reset starts in the music.
  priming_ = true;
  model_->reset();
  const std::int64_t now_tick = tick_at(now());
  const std::int64_t start = std::max<std::int64_t>(0, now_tick - std::int64_t{config_.engine.context_beats} * tpb_);
  encoder_.reset(start);
  frame_ = start;
  sounding_.reset();
  struck_.reset();
  const std::size_t first = (context_head_ + context_.size() - context_size_) % context_.size();
  for (std::size_t i = 0; i < context_size_; ++i) {
    const ContextEvent& e = context_[(first + i) % context_.size()];
    const std::int64_t tick = std::llround(e.beat * tpb_);
    if (tick < start) continue;
    feed_note(tick, e.pitch, e.velocity, kPerformerSource);
  }
  if (codec_.kind == CodecKind::kPianoRoll) close_frames_until(now_tick);
  priming_ = false;
}

// ---- Inputs ------------------------------------------------------------------------

void LiveEngine::handle(const InputEvent& event) noexcept {
  stats_.events.fetch_add(1, std::memory_order_relaxed);
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
      break;
    case InputKind::kStart:
      cancel_own();
      clock_.midi_start(event.time_ns);
      rebase();
      break;
    case InputKind::kContinue:
      clock_.midi_continue(event.time_ns);
      next_beat_ = static_cast<std::int64_t>(std::ceil(clock_.beat_at(event.time_ns)));
      break;
    case InputKind::kStop:
      clock_.midi_stop(event.time_ns);
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

void LiveEngine::performer_note(const InputEvent& event, bool on) noexcept {
  if (event.a < 0 || event.a > 127 || stopped_) return;
  const std::int64_t tick = tick_at(event.time_ns);
  feed_own_until(tick);
  const std::int64_t started = now();  // the event's own steps from here
  const auto pitch = static_cast<std::size_t>(event.a);
  if (on) {
    stats_.notes_in.fetch_add(1, std::memory_order_relaxed);
    heard_performer_ = true;
    answered_ = false;  // a new phrase
    performer_held_.set(pitch);
    // The performer takes over: continue and call-response stop at once.
    if (playing_ && config_.engine.mode != config::Mode::kAccompany) cancel_own();
  } else {
    performer_held_.reset(pitch);
  }
  last_performer_beat_ = clock_.beat_at(event.time_ns);
  feed_note(tick, event.a, on ? std::clamp<int>(event.b, 1, 127) : 0, kPerformerSource);
  const std::int64_t done = now();
  stats_.step_ns.add(done - event.time_ns);
  stats_.step_compute_ns.add(done - started);
}

void LiveEngine::control_change(const InputEvent& event) noexcept {
  const auto cc = static_cast<std::size_t>(event.a & 127);
  if (learning_) {
    // MIDI-learn: this controller now drives the control (and nothing else).
    const auto& spec = config::control_spec(*learning_);
    std::erase_if(config_.cc, [&](const auto& entry) { return entry.second == static_cast<int>(cc); });
    config_.cc[std::string(spec.name)] = static_cast<int>(cc);
    apply_settings();
    notifications_.push(Notification{Notification::Kind::kLearned, *learning_, 0, static_cast<int>(cc)});
    learning_.reset();
    cc_last_[cc] = static_cast<std::int8_t>(event.b);
    return;
  }
  const int previous = cc_last_[cc];
  cc_last_[cc] = static_cast<std::int8_t>(event.b);
  if (cc_control_[cc] == kNoControl) return;
  const auto& spec = config::control_spec(static_cast<Control>(cc_control_[cc]));
  if (spec.type == config::ControlType::kAction) {
    if (event.b >= 64 && previous < 64) set_control(spec.id, 1);  // a press, not a hold
    return;
  }
  set_control(spec.id, config::cc_to_value(spec, event.b));
}

void LiveEngine::set_control(Control id, double value) noexcept {
  switch (id) {
    case Control::kMute:
      mute_ = value >= 0.5;
      if (mute_) cancel_own();
      notifications_.push(Notification{Notification::Kind::kControlChanged, id, mute_ ? 1.0 : 0.0});
      return;
    case Control::kTap:
      if (clock_.tap(now())) {
        config_.clock.tempo_bpm = clock_.tempo_bpm();
        notifications_.push(Notification{Notification::Kind::kControlChanged, Control::kTempo, clock_.tempo_bpm()});
      }
      return;
    case Control::kReset:
      cancel_own();
      context_size_ = 0;
      heard_performer_ = false;
      prime();
      notifications_.push(Notification{Notification::Kind::kControlChanged, id, 1});
      return;
    case Control::kPanic:
      cancel_own();
      out_.emit(OutputEvent{.time_ns = now(), .kind = OutputKind::kAllNotesOff});
      notifications_.push(Notification{Notification::Kind::kControlChanged, id, 1});
      return;
    default:
      break;
  }
  const config::Mode mode = config_.engine.mode;
  // Notes end on the channel they started on; a channel change ends them first.
  if (id == Control::kChannel) cancel_own();
  config::apply_control(config_, id, value);
  if (config_.engine.mode != mode) {
    cancel_own();
    answered_ = false;
  }
  if (id == Control::kProgram)
    out_.emit(OutputEvent{.time_ns = now(),
                          .kind = OutputKind::kProgram,
                          .channel = static_cast<std::uint8_t>(config_.midi.channel - 1),
                          .velocity = static_cast<std::uint8_t>(config_.audio.program)});
  apply_settings();
  notifications_.push(Notification{Notification::Kind::kControlChanged, id, config::control_value(config_, id)});
}

// ---- Time passing, beats ------------------------------------------------------------

void LiveEngine::advance() noexcept {
  if (stopped_) return;
  const std::int64_t n = now();
  const std::int64_t tick = tick_at(n);
  feed_own_until(tick);
  if (codec_.kind == CodecKind::kEvents) {
    // A long silence moves time on in the longest SHIFTs, as the batch
    // encoder writes them, so that no later event pays for the whole gap.
    if (tick - encoder_.time() >= codec_.max_shift_ticks) {
      while (!encoder_.advance_to(encoder_.time() + codec_.max_shift_ticks, kPerformerSource, steps_)) feed_steps();
      feed_steps();
    }
  } else {
    close_frames_until(tick);
  }
  if (!clock_.running()) {
    next_beat_ = std::max(next_beat_, static_cast<std::int64_t>(std::ceil(clock_.beat_at(n))));
    return;
  }
  const auto budget_ns = static_cast<std::int64_t>(config_.engine.latency_budget_ms * 1e6);
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
    const auto budget_ns = static_cast<std::int64_t>(config_.engine.latency_budget_ms * 1e6);
    wake = std::min(wake, clock_.time_of(static_cast<double>(next_beat_)) - budget_ns);
  }
  if (!own_pending_.empty()) wake = std::min(wake, time_of_tick(own_pending_.front().tick));
  if (codec_.kind == CodecKind::kPianoRoll) wake = std::min(wake, time_of_tick(frame_ + 1));
  return wake;
}

void LiveEngine::begin_beat(std::int64_t beat) noexcept {
  const std::int64_t begin = beat * tpb_ + tick_offset_;
  const std::int64_t beat_ns = time_of_tick(begin);
  stats_.beats.fetch_add(1, std::memory_order_relaxed);
  out_.emit(OutputEvent{.time_ns = beat_ns, .kind = OutputKind::kBeat, .beat = beat});
  if (config_.clock.send_midi_clock && !clock_.midi_clock()) {
    for (int i = 0; i < BeatClock::kMidiClocksPerBeat; ++i)
      out_.emit(
          OutputEvent{.time_ns = clock_.time_of(static_cast<double>(beat) + double(i) / BeatClock::kMidiClocksPerBeat),
                      .kind = OutputKind::kClock});
  }
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
  const bool ok = codec_.kind == CodecKind::kEvents ? rollout_events(beat, beat_ns) : rollout_frames(beat, beat_ns);
  if (!ok) {
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
  if (mute_ || stopped_ || !heard_performer_) return false;
  const bool paused =
      performer_held_.none() && static_cast<double>(beat) - last_performer_beat_ >= config_.engine.gap_beats - 1e-9;
  switch (config_.engine.mode) {
    case config::Mode::kAccompany:
      return true;
    case config::Mode::kContinue:
      return paused;
    case config::Mode::kCallResponse:
      if (!paused) return false;
      if (!answered_) {
        answered_ = true;
        response_end_beat_ = beat + config_.engine.response_beats;
      }
      return beat < response_end_beat_;
  }
  return false;
}

bool LiveEngine::rollout_events(std::int64_t beat, std::int64_t deadline_ns) noexcept {
  model_->snapshot(saved_);
  EventEncoder enc = encoder_;  // a copy: the live encoder moves only with what sounds
  const auto run = [&] {
    for (const Step& s : steps_.steps()) model_->step(s);
    steps_.clear();
  };
  // What is scheduled but has not sounded yet comes first.
  for (const OwnEvent& e : own_pending_) {
    if (e.velocity > 0) {
      while (!enc.note_on(e.tick, e.pitch, e.velocity, kSelfSource, steps_)) run();
    } else {
      while (!enc.note_off(e.tick, e.pitch, kSelfSource, steps_)) run();
    }
  }
  const std::int64_t begin = beat * tpb_ + tick_offset_;
  const std::int64_t end = begin + tpb_;
  while (!enc.advance_to(begin, kSelfSource, steps_)) run();
  run();

  plan_.clear();
  EventRollout rollout(codec_, marks_, kSelfSource, kMaxNotesPerBeat, config_.engine.max_note_beats);
  rollout.time = begin;
  rollout.position_offset = tick_offset_;
  rollout.on_since = own_on_since_;
  rollout.velocity_bin = own_velocity_bin_ >= 0 ? own_velocity_bin_ : codec_.velocity_bins * 5 / 8;
  const double velocity_scale = config_.sampling.velocity_scale;
  const bool done = rollout.run(
      *model_, sampler_, end, [&](const Step& s) { model_->step(s); },
      [&](std::int64_t tick, int pitch, int velocity) {
        if (velocity > 0) velocity = std::clamp(static_cast<int>(std::lround(velocity * velocity_scale)), 1, 127);
        plan_.push_back(OwnEvent{tick, static_cast<std::uint8_t>(pitch), static_cast<std::uint8_t>(velocity)});
      },
      [&] { return now() > deadline_ns; });
  model_->restore(saved_);
  if (done) own_velocity_bin_ = rollout.velocity_bin;
  return done;
}

bool LiveEngine::rollout_frames(std::int64_t beat, std::int64_t deadline_ns) noexcept {
  model_->snapshot(saved_);
  const std::int64_t begin = beat * tpb_ + tick_offset_;
  // The live frames up to the beat, on a copy of the accumulators: the open
  // frame is closed early (a few milliseconds before its end) with what it holds.
  std::bitset<128> sounding = sounding_;
  std::bitset<128> struck = struck_;
  std::array<std::int64_t, 128> on_since = own_on_since_;
  for (const OwnEvent& e : own_pending_) {
    if (e.velocity > 0) {
      sounding.set(e.pitch);
      struck.set(e.pitch);
    } else {
      sounding.reset(e.pitch);
    }
  }
  const auto to_frame = [](const std::bitset<128>& keys) {
    Frame f;
    for (int k = 0; k < kKeys; ++k)
      if (keys[static_cast<std::size_t>(kLowestKey + k)]) f.set(static_cast<std::size_t>(k));
    return f;
  };
  for (std::int64_t f = frame_; f < begin; ++f) {
    Step s{.frame = to_frame(sounding | struck)};
    position_.locate(f - tick_offset_, s);
    model_->step(s);
    struck.reset();
  }
  plan_.clear();
  const auto max_frames = std::max<std::int64_t>(1, std::llround(config_.engine.max_note_beats * tpb_));
  const int velocity = std::clamp(static_cast<int>(std::lround(80 * config_.sampling.velocity_scale)), 1, 127);
  for (std::int64_t f = begin; f < begin + tpb_; ++f) {
    if (now() > deadline_ns) {
      model_->restore(saved_);
      return false;
    }
    Step s{.frame = sampler_.sample_frame(model_->logits(), model_->nade_weights())};
    for (std::size_t k = 0; k < kKeys; ++k) {
      const std::size_t p = kLowestKey + k;
      // The frame holds every part; nextbeat plays what the performer does not hold.
      const bool on = s.frame[k] && !performer_held_[p] && !(on_since[p] >= 0 && f - on_since[p] >= max_frames);
      if (on && on_since[p] < 0) {
        plan_.push_back(OwnEvent{f, static_cast<std::uint8_t>(p), static_cast<std::uint8_t>(velocity)});
        on_since[p] = f;
      } else if (!on && on_since[p] >= 0) {
        plan_.push_back(OwnEvent{f, static_cast<std::uint8_t>(p), 0});
        on_since[p] = -1;
      }
      if (!on && !performer_held_[p]) s.frame.reset(k);
    }
    position_.locate(f - tick_offset_, s);
    model_->step(s);
  }
  model_->restore(saved_);
  return true;
}

void LiveEngine::schedule_plan(std::int64_t beat) noexcept {
  for (const OwnEvent& e : plan_) {
    if (e.velocity == 0 && own_on_since_[e.pitch] < 0) continue;
    emit_note(e.tick, e.pitch, e.velocity);
    own_pending_.push_back(e);
    own_on_since_[e.pitch] = e.velocity > 0 ? e.tick : -1;
  }
  last_plan_.assign(plan_.begin(), plan_.end());
  last_plan_beat_ = beat;
}

void LiveEngine::play_fallback(std::int64_t beat) noexcept {
  const std::int64_t begin = beat * tpb_ + tick_offset_;
  switch (config_.engine.fallback) {
    case config::Fallback::kRest:
      release_own_at(begin);
      return;
    case config::Fallback::kHold: {
      // Keep what sounds, but never past max_note_beats.
      const auto max_ticks = std::max<std::int64_t>(1, std::llround(config_.engine.max_note_beats * tpb_));
      for (std::size_t p = 0; p < 128; ++p) {
        if (own_on_since_[p] >= 0 && begin - own_on_since_[p] >= max_ticks) {
          emit_note(begin, static_cast<int>(p), 0);
          own_pending_.push_back(OwnEvent{begin, static_cast<std::uint8_t>(p), 0});
          own_on_since_[p] = -1;
        }
      }
      return;
    }
    case config::Fallback::kRepeat: {
      release_own_at(begin);
      if (last_plan_beat_ < 0 || last_plan_.empty()) return;
      const std::int64_t shift = (beat - last_plan_beat_) * tpb_;
      plan_.clear();
      for (const OwnEvent& e : last_plan_) plan_.push_back(OwnEvent{e.tick + shift, e.pitch, e.velocity});
      schedule_plan(beat);
      return;
    }
  }
}

void LiveEngine::emit_note(std::int64_t tick, int pitch, int velocity) noexcept {
  out_.emit(OutputEvent{.time_ns = time_of_tick(tick),
                        .kind = velocity > 0 ? OutputKind::kNoteOn : OutputKind::kNoteOff,
                        .channel = static_cast<std::uint8_t>(config_.midi.channel - 1),
                        .pitch = static_cast<std::uint8_t>(pitch),
                        .velocity = static_cast<std::uint8_t>(velocity)});
  if (velocity > 0) stats_.notes_out.fetch_add(1, std::memory_order_relaxed);
}

void LiveEngine::release_own_at(std::int64_t tick) noexcept {
  for (std::size_t p = 0; p < 128; ++p) {
    if (own_on_since_[p] < 0) continue;
    const std::int64_t at = std::max(tick, own_on_since_[p]);
    emit_note(at, static_cast<int>(p), 0);
    own_pending_.push_back(OwnEvent{at, static_cast<std::uint8_t>(p), 0});
    own_on_since_[p] = -1;
    // Keep own_pending_ in tick order without allocating (std::stable_sort
    // may): a note-off lands after the events at or before its tick.
    for (std::size_t i = own_pending_.size() - 1; i > 0 && own_pending_[i - 1].tick > own_pending_[i].tick; --i)
      std::swap(own_pending_[i - 1], own_pending_[i]);
  }
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
    if (own_on_since_[p] <= tick) feed_note(tick, static_cast<int>(p), 0, kSelfSource);
    own_on_since_[p] = -1;
  }
  out_.emit(OutputEvent{.time_ns = n, .kind = OutputKind::kAllNotesOff});
  stats_.cancels.fetch_add(1, std::memory_order_relaxed);
  playing_ = false;
}

// ---- Model swap, reload, stop -------------------------------------------------------

std::unique_ptr<LstmModel> LiveEngine::swap_model(std::unique_ptr<LstmModel> model) noexcept {
  cancel_own();
  auto old = std::move(model_);
  set_model(std::move(model));
  apply_settings();
  prime();
  return old;
}

void LiveEngine::reconfigure(const config::Config& config) noexcept {
  if (config.midi.channel != config_.midi.channel || config.engine.mode != config_.engine.mode) cancel_own();
  const auto model_path = config_.model.path;
  const bool midi_clock = config.clock.source == config::ClockSource::kMidi;
  config_ = config;
  config_.model.path = model_path;  // the caller swaps the model when the path changed
  clock_.use_midi_clock(midi_clock, now());
  marks_.assign(1, MeterMark{0, config_.clock.beats_per_bar});
  encoder_.set_meter_marks(marks_);
  position_.set_marks(marks_);
  apply_settings();
}

void LiveEngine::stop() noexcept {
  cancel_own();
  out_.emit(OutputEvent{.time_ns = now(), .kind = OutputKind::kAllNotesOff});
  if (config_.clock.send_midi_clock && !clock_.midi_clock())
    out_.emit(OutputEvent{.time_ns = now(), .kind = OutputKind::kStop});
  stopped_ = true;
}

}  // namespace nextbeat::engine
