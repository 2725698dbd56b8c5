#include "engine/Score.h"

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

}  // namespace nextbeat::engine
