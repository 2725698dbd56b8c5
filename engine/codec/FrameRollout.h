// The sampling loop of the pianoroll codec, shared by `generate` (many beats
// at once, Generator.cpp through PianoRollLiveStream) and the live engine
// (one beat before it sounds): sample a frame, keep notes under
// max_note_beats, leave the keys another part holds to it, feed the frame.
//
// The note-length rule: a key the model keeps on sounds for at most
// max_frames = max(1, round(max_note_beats * steps_per_beat)) frames; the
// frame after that releases it (the key is off in the frame fed back), and
// it may start again in the frame after. This is the rule both copies had
// (the live engine counted frames since the note-on, `generate` counted
// frames held in a row: the same thing); of their two roundings the live
// one's floor of one frame is kept, so that a max_note_beats shorter than
// half a frame still lets notes sound for a frame instead of silencing the
// model altogether.
//
// Density (Sampler.h, NoteRole in LiveStream.h): every frame the model
// samples is fed, so it keeps its own rate; a key that starts but that the
// sampler leaves silent (density < 1) stays in the fed frames until it ends,
// going to on_note as kSilent. Above 1, the extra notes banked (kExtra) sound
// for one frame and are never fed: keys off in the frame, drawn by the
// model's probability for them, never one another part holds, one sounding
// or one that ended in this frame.
//
// Real-time contract: no allocation, no locks (the model step aside).
// called on: the engine thread (live) or one offline thread.
#pragma once

#include <algorithm>
#include <array>
#include <bitset>
#include <cmath>
#include <cstdint>
#include <span>

#include "engine/codec/Codec.h"
#include "engine/codec/Grid.h"
#include "engine/codec/LiveStream.h"
#include "engine/codec/PianoRollCodec.h"
#include "engine/model/Model.h"
#include "engine/model/Sampler.h"

namespace nextbeat::engine {

class FrameRollout {
 public:
  FrameRollout(const CodecSettings& codec, std::span<const MeterMark> marks, std::uint8_t source,
               double max_note_beats) noexcept
      : position_(codec.steps_per_beat, marks),
        source_(source),
        max_frames_(std::max<std::int64_t>(1, std::llround(max_note_beats * codec.steps_per_beat))) {
    on_since.fill(-1);
  }

  // The loop's state, which the caller may set before and read after run().
  std::int64_t time = 0;                   // the next frame
  std::int64_t position_offset = 0;        // the model's positions are of time - position_offset
  std::array<std::int64_t, 128> on_since;  // by MIDI pitch: frame of each own note's start, -1 = off
  std::bitset<128> held_by_others;         // by MIDI pitch: kept in the fed frame, never played
  std::bitset<128> silent;                 // by MIDI pitch: own notes of on_since that are NoteRole::kSilent

  // Samples and feeds frames until time reaches `end`. feed(const Step&)
  // steps the model; on_note(frame, pitch, velocity, role) hears every own
  // note that starts (the codec's one velocity: frames carry none) and ends (0).
  // Before each frame, stop() may end the rollout early: run() then returns false.

  NoteRole role_of(std::size_t pitch) const noexcept { return silent[pitch] ? NoteRole::kSilent : NoteRole::kPlayed; }

  template <class Feed, class OnNote, class Stop>
  bool run(const LstmModel& model, Sampler& sampler, std::int64_t end, Feed&& feed, OnNote&& on_note, Stop&& stop) {
    for (; time < end; ++time) {
      if (stop()) return false;
      Step s{.frame = sampler.sample_frame(model.logits(), model.nade_weights()), .source = source_};
      std::bitset<128> busy = held_by_others;  // keys an extra note may not take
      for (std::size_t k = 0; k < kKeys; ++k) {
        const std::size_t p = kLowestKey + k;
        auto& since = on_since[p];
        const bool on = s.frame[k] && !held_by_others[p] && !(since >= 0 && time - since >= max_frames_);
        if (on && since < 0) {
          silent[p] = !sampler.onset_sounds();
          on_note(time, static_cast<int>(p), PianoRollCodec::kPianoRollVelocity, role_of(p));
          since = time;
        } else if (!on && since >= 0) {
          on_note(time, static_cast<int>(p), 0, role_of(p));
          silent.reset(p);
          since = -1;
          busy.set(p);
        }
        if (!on && !held_by_others[p]) s.frame.reset(k);
        if (since >= 0) busy.set(p);
      }
      // density > 1: each extra note sounds for this frame; its off comes first in the next.
      std::bitset<128> extra;
      while (sampler.extra_note_due()) {
        const int k = sampler.sample_extra_key(s.frame, busy | extra);
        if (k < 0) break;
        sampler.extra_note_played();
        const std::size_t p = kLowestKey + static_cast<std::size_t>(k);
        extra.set(p);
        on_note(time, static_cast<int>(p), PianoRollCodec::kPianoRollVelocity, NoteRole::kExtra);
      }
      for (std::size_t p = 0; p < extra.size(); ++p)
        if (extra[p]) on_note(time + 1, static_cast<int>(p), 0, NoteRole::kExtra);
      position_.locate(time - position_offset, s);
      feed(s);
    }
    return true;
  }

 private:
  GridPosition position_;
  std::uint8_t source_;
  std::int64_t max_frames_;
};

}  // namespace nextbeat::engine
