#include "engine/live/OutputScheduler.h"

#include <algorithm>

#include "engine/queues/Retune.h"

namespace nextbeat::engine {
namespace {
bool is_note(const OutputEvent& e) {
  return e.kind == OutputKind::kNoteOn || e.kind == OutputKind::kNoteOff;
}
bool starts_something(const OutputEvent& e) {
  return (e.kind == OutputKind::kNoteOn && e.velocity > 0) || e.kind == OutputKind::kBeat ||
         e.kind == OutputKind::kClock;
}
std::size_t slot_of(const OutputEvent& e) {
  return (e.channel & 15u) * 128u + (e.pitch & 127u);
}
}  // namespace

void OutputScheduler::add(const OutputEvent& event, std::int64_t now_ns) noexcept {
  if (event.kind == OutputKind::kAllNotesOff) {
    pending_.drop_if(is_note);
    end_sounding(now_ns);
    return;
  }
  if (event.kind == OutputKind::kRetune) {
    retune(event, now_ns);
    return;
  }
  // Events of one time keep the engine's order (Timetable::insert).
  if (!pending_.insert(event)) {
    ++dropped_;
    if (event.kind == OutputKind::kNoteOff && sounding_[slot_of(event)]) play(event, now_ns);
  }
}

void OutputScheduler::play_due(std::int64_t now_ns) noexcept {
  std::size_t n = 0;
  while (n < pending_.size() && pending_[n].time_ns <= now_ns) {
    const OutputEvent& e = pending_[n];
    if (starts_something(e) && now_ns - e.time_ns > kStaleNs) {
      ++stale_;  // its note-off, if any, finds it not sounding and is not sent
      ++n;
      continue;
    }
    last_lateness_ns_ = now_ns - e.time_ns;
    max_lateness_ns_ = std::max(max_lateness_ns_, last_lateness_ns_);
    play(e, now_ns);
    ++n;
  }
  pending_.drop_front(n);
}

void OutputScheduler::release_all(std::int64_t now_ns) noexcept {
  pending_.clear();
  end_sounding(now_ns);
}

void OutputScheduler::play(const OutputEvent& event, std::int64_t now_ns) noexcept {
  if (event.kind == OutputKind::kNoteOn) {
    const std::size_t s = slot_of(event);
    if (sounding_[s]) {  // a retrigger: end the sounding one first, as a synth would
      OutputEvent off = event;
      off.kind = OutputKind::kNoteOff;
      off.velocity = 0;
      out_.emit(off);
    } else {
      sounding_.set(s);
      ++sounding_count_;
    }
  } else if (event.kind == OutputKind::kNoteOff) {
    const std::size_t s = slot_of(event);
    if (!sounding_[s]) return;  // never sent, or already ended by a cancel
    sounding_.reset(s);
    --sounding_count_;
  }
  OutputEvent e = event;
  e.time_ns = std::min(event.time_ns, now_ns);
  out_.emit(e);
}

void OutputScheduler::retune(const OutputEvent& event, std::int64_t now_ns) noexcept {
  if (retune_pending(pending_, event) || !sounding_[slot_of(event)]) return;
  play(OutputEvent{.time_ns = now_ns, .kind = OutputKind::kNoteOff, .channel = event.channel, .pitch = event.pitch},
       now_ns);
  if (event.to_pitch == kRetuneSilence) return;  // its pending note-off finds it ended
  play(OutputEvent{.time_ns = now_ns,
                   .kind = OutputKind::kNoteOn,
                   .channel = event.channel,
                   .pitch = event.to_pitch,
                   .velocity = event.velocity},
       now_ns);
}

void OutputScheduler::end_sounding(std::int64_t now_ns) noexcept {
  for (std::size_t s = 0; s < sounding_.size() && sounding_count_ > 0; ++s) {
    if (!sounding_[s]) continue;
    sounding_.reset(s);
    --sounding_count_;
    out_.emit(OutputEvent{.time_ns = now_ns,
                          .kind = OutputKind::kNoteOff,
                          .channel = static_cast<std::uint8_t>(s / 128),
                          .pitch = static_cast<std::uint8_t>(s % 128)});
  }
  out_.emit(OutputEvent{.time_ns = now_ns, .kind = OutputKind::kAllNotesOff});
}

}  // namespace nextbeat::engine
