// The sampling loop of the events codec, shared by `generate` (many beats at
// once) and the live engine (one beat before it sounds): sample a token, feed
// it, let SHIFTs move time, keep notes under max_note_beats and a beat under
// max_notes_per_beat, and never let a model that stops moving time hang the
// loop. The caller decides where the steps go (feed) and what a note means
// to it (on_note).
//
// Real-time contract: no allocation, no locks (the model step aside).
// called on: the engine thread (live) or one offline thread.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "engine/codec/Codec.h"
#include "engine/codec/EventCodec.h"
#include "engine/model/Model.h"
#include "engine/model/Sampler.h"

namespace nextbeat::engine {

class EventRollout {
 public:
  EventRollout(const CodecSettings& codec, std::span<const MeterMark> marks, std::uint8_t source,
               int max_notes_per_beat, double max_note_beats) noexcept
      : tpb_(codec.ticks_per_beat),
        position_(codec.ticks_per_beat, marks),
        source_(source),
        max_notes_per_beat_(max_notes_per_beat),
        max_note_ticks_(std::max<std::int64_t>(1, std::llround(max_note_beats * codec.ticks_per_beat))) {
    layout_.velocity_bins = codec.velocity_bins;
    layout_.max_shift_ticks = codec.max_shift_ticks;
    on_since.fill(-1);
  }

  // The loop's state, which the caller may set before and read after run().
  std::int64_t time = 0;                   // grid ticks
  std::int64_t position_offset = 0;        // the model's positions are of time - position_offset
  std::array<std::int64_t, 128> on_since;  // tick of each sounding note's NOTE_ON, -1 = off
  int velocity_bin = -1;                   // of the last VELOCITY sampled, -1 = none yet

  // Feeds SHIFTs (the longest first) until time reaches `tick`.
  template <class Feed>
  void shift_to(std::int64_t tick, Feed&& feed) {
    while (time < tick) {
      const auto k = static_cast<int>(std::min<std::int64_t>(tick - time, layout_.max_shift_ticks));
      emit(layout_.shift_token(k), feed);
      time += k;
    }
    tokens_this_tick_ = 0;
  }

  // Ends a sounding note now (a NOTE_OFF fed, on_note(time, pitch, 0)).
  template <class Feed, class OnNote>
  void release(int pitch, Feed&& feed, OnNote&& on_note) {
    emit(EventLayout::note_off_token(pitch), feed);
    on_note(time, pitch, 0);
    on_since[static_cast<std::size_t>(pitch)] = -1;
  }

  // Samples and feeds tokens until time reaches `end`. feed(const Step&)
  // steps the model; on_note(tick, pitch, velocity) hears every note that
  // starts (velocity from the last VELOCITY bin) and ends (0): sampled,
  // retriggered or cut at max_note_beats. Before each token, stop() may end
  // the rollout early: run() then returns false.
  template <class Feed, class OnNote, class Stop>
  bool run(const LstmModel& model, Sampler& sampler, std::int64_t end, Feed&& feed, OnNote&& on_note, Stop&& stop) {
    // The cap on notes per beat bounds the NOTE_ONs between two SHIFTs, and
    // this bounds the rest (VELOCITY, NOTE_OFF): a model that never moves
    // time is moved on, so the loop always ends.
    const int max_tokens_per_tick = 4 * max_notes_per_beat_ + 16;
    std::int64_t counted_beat = time / tpb_;
    int notes_this_beat = 0;
    while (time < end) {
      if (stop()) return false;
      if (tokens_this_tick_ >= max_tokens_per_tick) {
        shift_to(time + 1, feed);
        continue;
      }
      for (std::size_t p = 0; p < on_since.size(); ++p)
        if (on_since[p] >= 0 && time - on_since[p] >= max_note_ticks_) release(static_cast<int>(p), feed, on_note);
      if (time / tpb_ != counted_beat) {
        counted_beat = time / tpb_;
        notes_this_beat = 0;
      }
      const int token = sampler.sample_token(model.logits(), notes_this_beat < max_notes_per_beat_);
      if (layout_.is_shift(token)) {
        // A SHIFT stops where a note reaches max_note_beats, so that it ends
        // on that tick and not at the end of the shift (or of the beat).
        shift_to(std::min({end, time + layout_.shift_ticks_of(token), next_release()}), feed);
        continue;
      }
      ++tokens_this_tick_;
      emit(token, feed);
      if (layout_.is_velocity(token)) {
        velocity_bin = layout_.velocity_bin_of(token);
      } else if (EventLayout::is_note_on(token)) {
        const int pitch = EventLayout::pitch_of(token);
        auto& since = on_since[static_cast<std::size_t>(pitch)];
        if (since >= 0) on_note(time, pitch, 0);  // a retrigger ends the sounding note
        const int bin = velocity_bin >= 0 ? velocity_bin : layout_.velocity_bins / 2;
        on_note(time, pitch, layout_.bin_velocity(bin));
        since = time;
        ++notes_this_beat;
      } else if (EventLayout::is_note_off(token)) {
        auto& since = on_since[static_cast<std::size_t>(EventLayout::pitch_of(token))];
        if (since >= 0) on_note(time, EventLayout::pitch_of(token), 0);
        since = -1;
      }
    }
    return true;
  }

  const EventLayout& layout() const noexcept { return layout_; }

 private:
  // The first tick at which a sounding note reaches max_note_beats (after
  // `time`, once the due ones are released); INT64_MAX when none sounds.
  std::int64_t next_release() const noexcept {
    std::int64_t at = INT64_MAX;
    for (const std::int64_t since : on_since)
      if (since >= 0) at = std::min(at, since + max_note_ticks_);
    return at;
  }

  template <class Feed>
  void emit(int token, Feed& feed) {
    Step s{.token = token, .source = source_};
    position_.locate(time - position_offset, s);
    feed(s);
  }

  int tpb_;
  EventLayout layout_;
  GridPosition position_;
  std::uint8_t source_;
  int max_notes_per_beat_;
  std::int64_t max_note_ticks_;
  int tokens_this_tick_ = 0;
};

}  // namespace nextbeat::engine
