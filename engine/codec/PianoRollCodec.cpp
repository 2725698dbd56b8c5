#include "engine/codec/PianoRollCodec.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/codec/Grid.h"

namespace nextbeat::engine {
namespace {

std::int64_t to_frame(double beat, int steps_per_beat) {
  const double frame = std::round(beat * steps_per_beat);
  if (!(frame > 0)) return 0;  // also NaN
  // A score reaching past this (about 4 * 10^6 frames: hours of music at 16ths) is a
  // broken file; capping keeps the allocation bounded (128 MiB of steps).
  constexpr double kMaxFrames = 1 << 22;
  return static_cast<std::int64_t>(std::min(frame, kMaxFrames));
}

}  // namespace

PianoRollCodec::PianoRollCodec(const CodecSettings& settings) : settings_(settings) {
  require_codec_setting("pianoroll", "steps_per_beat", settings.steps_per_beat, 1, 960);
}

EncodedSequence PianoRollCodec::encode(const Score& score) const {
  EncodedSequence sequence;
  sequence.source = score.source;
  const int spb = settings_.steps_per_beat;
  std::int64_t frames = 0;
  for (const auto& note : score.notes) {
    if (note.is_drum() && !settings_.include_drums) continue;
    if (note.pitch < kLowestKey || note.pitch >= kLowestKey + kKeys) continue;
    const std::int64_t start = to_frame(note.start_beat, spb);
    frames = std::max(frames, std::max(to_frame(note.end_beat, spb), start + 1));
  }
  sequence.steps.resize(static_cast<std::size_t>(frames));
  for (const auto& note : score.notes) {
    if (note.is_drum() && !settings_.include_drums) continue;
    if (note.pitch < kLowestKey || note.pitch >= kLowestKey + kKeys) continue;
    const std::int64_t start = to_frame(note.start_beat, spb);
    const std::int64_t end = std::max(to_frame(note.end_beat, spb), start + 1);
    for (std::int64_t f = start; f < end; ++f) {
      Step& step = sequence.steps[static_cast<std::size_t>(f)];
      step.frame.set(static_cast<std::size_t>(note.pitch - kLowestKey));
      step.source = std::max(step.source, note.source);
    }
  }
  const std::vector<MeterMark> marks = meter_marks(score.time_signatures, spb);
  GridPosition position(spb, marks);
  for (std::size_t f = 0; f < sequence.steps.size(); ++f) {
    position.locate(static_cast<std::int64_t>(f), sequence.steps[f]);
  }
  return sequence;
}

Score PianoRollCodec::decode(const EncodedSequence& sequence) const {
  Score score = decoded_score_base(settings_.steps_per_beat, sequence.source);
  const double spb = settings_.steps_per_beat;
  const std::size_t frames = sequence.steps.size();
  for (std::size_t key = 0; key < static_cast<std::size_t>(kKeys); ++key) {
    std::size_t f = 0;
    while (f < frames) {
      if (!sequence.steps[f].frame.test(key)) {
        ++f;
        continue;
      }
      const std::size_t start = f;
      while (f < frames && sequence.steps[f].frame.test(key)) ++f;
      Note note;
      note.pitch = kLowestKey + static_cast<int>(key);
      note.velocity = kPianoRollVelocity;
      note.source = sequence.steps[start].source;
      note.start_beat = static_cast<double>(start) / spb;
      note.end_beat = static_cast<double>(f) / spb;
      score.notes.push_back(note);
    }
  }
  score.sort_notes();
  return score;
}

EncodedSequence PianoRollCodec::transpose(const EncodedSequence& sequence, int semitones) const {
  EncodedSequence out = sequence;
  if (semitones == 0) return out;
  const std::size_t shift = static_cast<std::size_t>(std::abs(semitones));
  for (auto& step : out.steps) {
    if (step.frame.none()) continue;
    if (shift >= static_cast<std::size_t>(kKeys)) return {{}, sequence.source};
    // The keys that would fall off the end must be silent.
    const Frame lost = semitones > 0 ? step.frame >> (kKeys - shift) : step.frame << (kKeys - shift);
    if (lost.any()) return {{}, sequence.source};
    if (semitones > 0) {
      step.frame <<= shift;
    } else {
      step.frame >>= shift;
    }
  }
  return out;
}

std::string PianoRollCodec::describe(const Step& step) const {
  std::string text = "{";
  for (int key = 0; key < kKeys; ++key) {
    if (!step.frame.test(static_cast<std::size_t>(key))) continue;
    if (text.size() > 1) text += ' ';
    text += std::to_string(kLowestKey + key);
  }
  return text + "}";
}

void set_frame_positions(EncodedSequence& sequence, int steps_per_beat) {
  const std::size_t spb = static_cast<std::size_t>(std::max(1, steps_per_beat));
  for (std::size_t f = 0; f < sequence.steps.size(); ++f) {
    sequence.steps[f].beat_tick = static_cast<std::uint16_t>(f % spb);
    sequence.steps[f].bar_beat = static_cast<std::uint8_t>((f / spb) % 4);
  }
}

}  // namespace nextbeat::engine
