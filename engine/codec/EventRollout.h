// The sampling loop of the events codec, shared by `generate` (many beats at
// once) and the live engine (one beat before it sounds): sample a token, feed
// it, let SHIFTs move time, keep notes under max_note_beats, a beat under
// max_notes_per_beat and the notes held at once under max_voices, and never
// let a model that stops moving time hang the loop. The caller decides where
// the steps go (feed) and what a note means to it (on_note).
//
// Density (Sampler.h, NoteRole in LiveStream.h): the model hears its own
// part as it samples it, so it keeps its own rate. A NOTE_ON that the sampler
// leaves silent (density < 1) is fed, and goes to on_note as kSilent. Above
// 1, when the model chooses a SHIFT of two ticks or more with extra notes
// banked, the extra notes (kExtra) sound halfway through it and end where it
// ends: pitches drawn from the model's NOTE_ON probabilities at that point,
// never one sounding already, and never fed (fed, they made the model hold
// back: density 2 gave 1.4 times the notes).
//
// Voices: a NOTE_ON that would hold more than max_voices notes first ends
// the note held longest, as a synth steals a voice, and the model is fed
// that NOTE_OFF before its NOTE_ON, so it knows what still sounds. The
// events models hold notes longer than their music does (free generation:
// polyphony 5.9 to 9.9 where the chorales hold 3.8), and a held note they
// forget muddies every chord after it.
//
// Real-time contract: no allocation, no locks (the model step aside).
// called on: the engine thread (live) or one offline thread.
#pragma once

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>
#include <span>

#include "engine/codec/Codec.h"
#include "engine/codec/EventCodec.h"
#include "engine/codec/LiveStream.h"
#include "engine/model/Model.h"
#include "engine/model/Sampler.h"

namespace nextbeat::engine {

class EventRollout {
 public:
  EventRollout(const CodecSettings& codec, std::span<const MeterMark> marks, std::uint8_t source,
               int max_notes_per_beat, double max_note_beats, int max_voices = 0) noexcept
      : tpb_(codec.ticks_per_beat),
        position_(codec.ticks_per_beat, marks),
        source_(source),
        max_notes_per_beat_(max_notes_per_beat),
        max_note_ticks_(std::max<std::int64_t>(1, std::llround(max_note_beats * codec.ticks_per_beat))),
        max_voices_(max_voices) {
    layout_.velocity_bins = codec.velocity_bins;
    layout_.max_shift_ticks = codec.max_shift_ticks;
    on_since.fill(-1);
  }

  // The loop's state, which the caller may set before and read after run().
  std::int64_t time = 0;                   // grid ticks
  std::int64_t position_offset = 0;        // the model's positions are of time - position_offset
  std::array<std::int64_t, 128> on_since;  // tick of each sounding note's NOTE_ON, -1 = off
  int velocity_bin = -1;                   // of the last VELOCITY sampled, -1 = none yet
  std::bitset<128> silent;                 // notes of on_since that are NoteRole::kSilent

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

  // Ends a sounding note now (a NOTE_OFF fed, on_note(time, pitch, 0, its role)).
  template <class Feed, class OnNote>
  void release(int pitch, Feed&& feed, OnNote&& on_note) {
    emit(EventLayout::note_off_token(pitch), feed);
    const auto p = static_cast<std::size_t>(pitch);
    on_note(time, pitch, 0, role_of(p));
    silent.reset(p);
    on_since[p] = -1;
  }

  // Samples and feeds tokens until time reaches `end`. feed(const Step&)
  // steps the model; on_note(tick, pitch, velocity, role) hears every note
  // that starts (velocity from the last VELOCITY bin) and ends (0): sampled,
  // retriggered, cut at max_note_beats or added by density. Before each token, stop() may end
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
        std::int64_t to = std::min(end, time + layout_.shift_ticks_of(token));
        // A note reaching max_note_beats inside the SHIFT ends on time: time
        // stops there (the rest of the SHIFT is fed after its NOTE_OFF, as
        // the encoder writes a note that ends there).
        for (const std::int64_t since : on_since)
          if (since >= 0) to = std::min(to, std::max(time + 1, since + max_note_ticks_));
        if (to - time >= 2) play_extras(model, sampler, time + (to - time) / 2, to, on_note, notes_this_beat);
        shift_to(to, feed);
        continue;
      }
      ++tokens_this_tick_;
      if (max_voices_ > 0 && EventLayout::is_note_on(token)) make_room(EventLayout::pitch_of(token), feed, on_note);
      emit(token, feed);
      if (layout_.is_velocity(token)) {
        velocity_bin = layout_.velocity_bin_of(token);
      } else if (EventLayout::is_note_on(token)) {
        start_note(EventLayout::pitch_of(token), sampler.onset_sounds(), on_note);
        ++notes_this_beat;
      } else if (EventLayout::is_note_off(token)) {
        const auto p = static_cast<std::size_t>(EventLayout::pitch_of(token));
        if (on_since[p] >= 0) on_note(time, EventLayout::pitch_of(token), 0, role_of(p));
        on_since[p] = -1;
        silent.reset(p);
      }
    }
    return true;
  }

  const EventLayout& layout() const noexcept { return layout_; }

 private:
  // density > 1: the banked extra notes from `at` to `to` (not fed), in tick order.
  template <class OnNote>
  void play_extras(const LstmModel& model, Sampler& sampler, std::int64_t at, std::int64_t to, OnNote& on_note,
                   int& notes_this_beat) {
    std::bitset<128> extra;
    std::bitset<128> sounding;  // never a pitch that sounds already
    for (std::size_t p = 0; p < on_since.size(); ++p) sounding[p] = on_since[p] >= 0;
    const int velocity = layout_.bin_velocity(velocity_bin >= 0 ? velocity_bin : layout_.velocity_bins / 2);
    while (sampler.extra_note_due() && notes_this_beat < max_notes_per_beat_) {
      const int token = sampler.sample_note(model.logits(), sounding | extra);
      if (token < 0) break;
      const auto p = static_cast<std::size_t>(EventLayout::pitch_of(token));
      sampler.extra_note_played();
      extra.set(p);
      on_note(at, static_cast<int>(p), velocity, NoteRole::kExtra);
      ++notes_this_beat;
    }
    for (std::size_t p = 0; p < extra.size(); ++p)
      if (extra[p]) on_note(to, static_cast<int>(p), 0, NoteRole::kExtra);
  }

  // Before a NOTE_ON of `pitch`: ends the notes held longest (the lowest
  // first among equals) until it makes at most max_voices_. A retrigger of a
  // held pitch takes no new voice.
  template <class Feed, class OnNote>
  void make_room(int pitch, Feed& feed, OnNote& on_note) {
    int held = 0;
    for (std::size_t p = 0; p < on_since.size(); ++p)
      if (on_since[p] >= 0 && static_cast<int>(p) != pitch) ++held;
    for (; held >= max_voices_; --held) {
      int oldest = -1;
      for (std::size_t p = 0; p < on_since.size(); ++p)
        if (on_since[p] >= 0 && static_cast<int>(p) != pitch &&
            (oldest < 0 || on_since[p] < on_since[static_cast<std::size_t>(oldest)]))
          oldest = static_cast<int>(p);
      ++tokens_this_tick_;
      release(oldest, feed, on_note);
    }
  }

  // A NOTE_ON (already fed) at `time`: sounds, or stays silent (density).
  template <class OnNote>
  void start_note(int pitch, bool sounds, OnNote& on_note) {
    const auto p = static_cast<std::size_t>(pitch);
    if (on_since[p] >= 0) on_note(time, pitch, 0, role_of(p));  // a retrigger ends the sounding note
    silent[p] = !sounds;
    on_note(time, pitch, layout_.bin_velocity(velocity_bin >= 0 ? velocity_bin : layout_.velocity_bins / 2),
            role_of(p));
    on_since[p] = time;
  }
  NoteRole role_of(std::size_t pitch) const noexcept { return silent[pitch] ? NoteRole::kSilent : NoteRole::kPlayed; }

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
  int max_voices_;
  int tokens_this_tick_ = 0;
};

}  // namespace nextbeat::engine
