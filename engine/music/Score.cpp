#include "engine/music/Score.h"

#include <algorithm>
#include <tuple>

namespace nextbeat::engine {

double Score::end_beat() const {
  double end = 0;
  for (const auto& note : notes) end = std::max(end, note.end_beat);
  return end;
}

void Score::sort_notes() {
  std::stable_sort(notes.begin(), notes.end(), [](const Note& a, const Note& b) {
    return std::tie(a.start_beat, a.pitch, a.channel) < std::tie(b.start_beat, b.pitch, b.channel);
  });
}

double Score::seconds_at(double beat) const {
  double seconds = 0;
  double at = 0;
  double bpm = tempo_map.empty() ? 120.0 : tempo_map.front().bpm;
  for (const auto& change : tempo_map) {
    if (change.beat >= beat) break;
    seconds += (change.beat - at) * 60.0 / bpm;
    at = change.beat;
    bpm = change.bpm > 0 ? change.bpm : bpm;
  }
  return seconds + (beat - at) * 60.0 / bpm;
}

}  // namespace nextbeat::engine
