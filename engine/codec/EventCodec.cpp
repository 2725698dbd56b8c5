#include "engine/codec/EventCodec.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <tuple>

namespace nextbeat::engine {

// ---- Streaming encoder -----------------------------------------------------------

// Settings are validated by EventCodec; clamped here so that bad ones cannot divide by zero.
EventEncoder::EventEncoder(const CodecSettings& settings) noexcept
    : layout_{std::clamp(settings.velocity_bins, 1, 127), std::max(settings.max_shift_ticks, 1)},
      position_(settings.ticks_per_beat, {}) {}

void EventEncoder::reset(std::int64_t tick) noexcept {
  time_ = tick;
  last_velocity_bin_ = -1;
  sounding_.reset();
}

void EventEncoder::emit(int token, std::uint8_t source, StepWriter& out) noexcept {
  Step step;
  step.token = token;
  step.source = source;
  position_.locate(time_, step);
  out.push(step);
}

bool EventEncoder::advance_to(std::int64_t tick, std::uint8_t source, StepWriter& out) noexcept {
  while (tick > time_) {
    if (out.room() == 0) return false;
    const std::int64_t ticks = std::min<std::int64_t>(tick - time_, layout_.max_shift_ticks);
    emit(layout_.shift_token(static_cast<int>(ticks)), source, out);  // position: before the shift
    time_ += ticks;
  }
  return true;
}

bool EventEncoder::note_on(std::int64_t tick, int pitch, int velocity, std::uint8_t source, StepWriter& out) noexcept {
  if (pitch < 0 || pitch >= EventLayout::kPitches) return true;
  if (velocity <= 0) return note_off(tick, pitch, source, out);
  if (!advance_to(tick, source, out)) return false;
  const int bin = layout_.velocity_bin(velocity);
  const std::size_t needed = 1 + (sounding_[pitch] ? 1 : 0) + (bin != last_velocity_bin_ ? 1 : 0);
  if (out.room() < needed) return false;
  if (sounding_[pitch]) emit(EventLayout::note_off_token(pitch), source, out);
  if (bin != last_velocity_bin_) {
    emit(layout_.velocity_token(bin), source, out);
    last_velocity_bin_ = bin;
  }
  emit(EventLayout::note_on_token(pitch), source, out);
  sounding_[pitch] = true;
  return true;
}

bool EventEncoder::note_off(std::int64_t tick, int pitch, std::uint8_t source, StepWriter& out) noexcept {
  if (pitch < 0 || pitch >= EventLayout::kPitches || !sounding_[pitch]) return true;
  if (!advance_to(tick, source, out)) return false;
  if (out.room() == 0) return false;
  emit(EventLayout::note_off_token(pitch), source, out);
  sounding_[pitch] = false;
  return true;
}

// ---- The codec -------------------------------------------------------------------

namespace {

struct GridNote {
  std::int64_t start = 0;
  std::int64_t end = 0;
  int pitch = 0;
  int velocity = 0;
  std::uint8_t source = 0;
};

struct GridEvent {
  std::int64_t tick = 0;
  bool on = false;
  int pitch = 0;
  int velocity = 0;
  std::uint8_t source = 0;
};

// Times past this are clamped: about 13 hours at 120 bpm on the default grid, so
// only a broken file gets there, and its SHIFTs stay bounded (2^26 / max_shift).
constexpr double kMaxTick = 1 << 26;

std::int64_t to_tick(double beat, int ticks_per_beat) {
  const double tick = std::round(beat * ticks_per_beat);
  if (!(tick > 0)) return 0;  // also NaN
  return static_cast<std::int64_t>(std::min(tick, kMaxTick));
}

// The notes on the grid, per pitch without overlaps (the rules in EventCodec.h).
std::vector<GridNote> grid_notes(const Score& score, const CodecSettings& settings) {
  std::vector<GridNote> notes;
  notes.reserve(score.notes.size());
  for (const auto& note : score.notes) {
    if (note.is_drum() && !settings.include_drums) continue;
    if (note.pitch < 0 || note.pitch > 127) continue;
    GridNote grid{to_tick(note.start_beat, settings.ticks_per_beat), to_tick(note.end_beat, settings.ticks_per_beat),
                  note.pitch, std::clamp(note.velocity, 1, 127), note.source};
    grid.end = std::max(grid.end, grid.start + 1);
    notes.push_back(grid);
  }
  // Stable: among equal (pitch, start) the score's order decides whose source is kept.
  std::stable_sort(notes.begin(), notes.end(), [](const GridNote& a, const GridNote& b) {
    return std::tie(a.pitch, a.start) < std::tie(b.pitch, b.start);
  });
  std::vector<GridNote> resolved;
  resolved.reserve(notes.size());
  for (const auto& note : notes) {
    if (!resolved.empty() && resolved.back().pitch == note.pitch) {
      GridNote& last = resolved.back();
      if (last.start == note.start) {  // same onset: one note
        last.end = std::max(last.end, note.end);
        last.velocity = std::max(last.velocity, note.velocity);
        continue;
      }
      if (last.end > note.start) {  // retrigger while sounding
        const std::int64_t end = std::max(last.end, note.end);
        last.end = note.start;
        resolved.push_back(note);
        resolved.back().end = end;
        continue;
      }
    }
    resolved.push_back(note);
  }
  return resolved;
}

}  // namespace

EventCodec::EventCodec(const CodecSettings& settings)
    : settings_(settings), layout_{settings.velocity_bins, settings.max_shift_ticks} {
  require_codec_setting("events", "ticks_per_beat", settings.ticks_per_beat, 1, 960);
  require_codec_setting("events", "velocity_bins", settings.velocity_bins, 1, 127);
  require_codec_setting("events", "max_shift_ticks", settings.max_shift_ticks, 1, 65535);
}

EncodedSequence EventCodec::encode(const Score& score) const {
  EncodedSequence sequence;
  sequence.source = score.source;
  const std::vector<GridNote> notes = grid_notes(score, settings_);
  if (notes.empty()) return sequence;

  std::vector<GridEvent> events;
  events.reserve(notes.size() * 2);
  std::int64_t last_tick = 0;
  for (const auto& note : notes) {
    events.push_back({note.start, true, note.pitch, note.velocity, note.source});
    events.push_back({note.end, false, note.pitch, 0, note.source});
    last_tick = std::max(last_tick, note.end);
  }
  // Per tick: NOTE_OFFs first, each group by ascending pitch.
  std::sort(events.begin(), events.end(), [](const GridEvent& a, const GridEvent& b) {
    return std::tie(a.tick, a.on, a.pitch) < std::tie(b.tick, b.on, b.pitch);
  });

  // An upper bound, so that one fixed buffer holds everything: per note-on
  // VELOCITY + NOTE_ON (+ a retrigger NOTE_OFF), per note-off one token, and per
  // gap ceil(gap / max_shift) <= gap / max_shift + 1 SHIFTs.
  const std::size_t bound = notes.size() * (EventEncoder::kMaxTokensPerNote + 1) + events.size() +
                            static_cast<std::size_t>(last_tick / settings_.max_shift_ticks) + 1;
  sequence.steps.resize(bound);
  StepWriter writer(sequence.steps);
  const std::vector<MeterMark> marks = meter_marks(score.time_signatures, settings_.ticks_per_beat);
  EventEncoder encoder(settings_);
  encoder.set_meter_marks(marks);
  for (const auto& event : events) {
    const bool written = event.on ? encoder.note_on(event.tick, event.pitch, event.velocity, event.source, writer)
                                  : encoder.note_off(event.tick, event.pitch, event.source, writer);
    if (!written) throw std::logic_error("EventCodec::encode: token bound too small");  // a bug, not bad input
  }
  sequence.steps.resize(writer.size());
  return sequence;
}

Score EventCodec::decode(const EncodedSequence& sequence) const {
  Score score = decoded_score_base(settings_.ticks_per_beat, sequence.source);

  struct Sounding {
    std::int64_t start = -1;  // -1: not sounding
    int velocity = 0;
    std::uint8_t source = 0;
  };
  std::array<Sounding, EventLayout::kPitches> sounding{};
  const double tpb = settings_.ticks_per_beat;
  auto close = [&](int pitch, std::int64_t end) {
    Sounding& s = sounding[pitch];
    Note note;
    note.pitch = pitch;
    note.velocity = s.velocity;
    note.source = s.source;
    note.start_beat = static_cast<double>(s.start) / tpb;
    note.end_beat = static_cast<double>(std::max(end, s.start + 1)) / tpb;
    score.notes.push_back(note);
    s.start = -1;
  };

  std::int64_t time = 0;
  int velocity = layout_.bin_velocity(settings_.velocity_bins / 2);
  for (const auto& step : sequence.steps) {
    const int id = step.token;
    if (EventLayout::is_note_on(id)) {
      const int pitch = EventLayout::pitch_of(id);
      if (sounding[pitch].start == time) continue;  // a repeat on the same tick
      if (sounding[pitch].start >= 0) close(pitch, time);
      sounding[pitch] = {time, velocity, step.source};
    } else if (EventLayout::is_note_off(id)) {
      const int pitch = EventLayout::pitch_of(id);
      if (sounding[pitch].start >= 0) close(pitch, time);
    } else if (layout_.is_velocity(id)) {
      velocity = layout_.bin_velocity(layout_.velocity_bin_of(id));
    } else if (layout_.is_shift(id)) {
      time += layout_.shift_ticks_of(id);
    }
  }
  for (int pitch = 0; pitch < EventLayout::kPitches; ++pitch) {
    if (sounding[pitch].start >= 0) close(pitch, time);
  }
  score.sort_notes();
  return score;
}

EncodedSequence EventCodec::transpose(const EncodedSequence& sequence, int semitones) const {
  EncodedSequence out = sequence;
  if (semitones == 0) return out;
  for (auto& step : out.steps) {
    if (!EventLayout::is_note(step.token)) continue;
    const int pitch = EventLayout::pitch_of(step.token) + semitones;
    if (pitch < 0 || pitch >= EventLayout::kPitches) return {{}, sequence.source};
    step.token =
        EventLayout::is_note_on(step.token) ? EventLayout::note_on_token(pitch) : EventLayout::note_off_token(pitch);
  }
  return out;
}

std::string EventCodec::describe(const Step& step) const {
  const int id = step.token;
  if (EventLayout::is_note_on(id)) return "NOTE_ON(" + std::to_string(EventLayout::pitch_of(id)) + ")";
  if (EventLayout::is_note_off(id)) return "NOTE_OFF(" + std::to_string(EventLayout::pitch_of(id)) + ")";
  if (layout_.is_velocity(id)) return "VELOCITY(" + std::to_string(layout_.velocity_bin_of(id)) + ")";
  if (layout_.is_shift(id)) return "SHIFT(" + std::to_string(layout_.shift_ticks_of(id)) + ")";
  return "UNKNOWN(" + std::to_string(id) + ")";
}

}  // namespace nextbeat::engine
