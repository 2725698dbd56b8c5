#include "engine/offline/Metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace nextbeat::engine {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<const Note*> pitched_notes(const Score& score) {
  std::vector<const Note*> notes;
  notes.reserve(score.notes.size());
  for (const Note& note : score.notes) {
    if (!note.is_drum()) notes.push_back(&note);
  }
  return notes;
}

// Mean sounding notes over the time at least one sounds: the summed note
// lengths divided by the length of the union of the notes' intervals.
double mean_polyphony(const std::vector<const Note*>& notes) {
  std::vector<std::pair<double, double>> spans;
  double total = 0;
  for (const Note* note : notes) {
    if (note->end_beat > note->start_beat) {
      spans.emplace_back(note->start_beat, note->end_beat);
      total += note->end_beat - note->start_beat;
    }
  }
  if (spans.empty()) return kNaN;
  std::sort(spans.begin(), spans.end());
  double covered = 0;
  double run_start = spans.front().first, run_end = spans.front().second;
  for (const auto& [start, end] : spans) {
    if (start > run_end) {
      covered += run_end - run_start;
      run_start = start;
      run_end = end;
    } else {
      run_end = std::max(run_end, end);
    }
  }
  covered += run_end - run_start;
  return total / covered;
}

bool on_grid(double beat, double grid_beats, double tolerance_beats) {
  const double phase = beat - std::floor(beat / grid_beats) * grid_beats;  // 0 <= phase < grid
  return std::min(phase, grid_beats - phase) <= tolerance_beats;
}

}  // namespace

PitchClassHistogram pitch_class_histogram(const Score& score, HistogramWeighting weighting) {
  PitchClassHistogram histogram{};
  double total = 0;
  for (const Note* note : pitched_notes(score)) {
    const double weight =
        weighting == HistogramWeighting::kCount ? 1.0 : std::max(0.0, note->end_beat - note->start_beat);
    histogram[static_cast<std::size_t>(((note->pitch % kPitchClasses) + kPitchClasses) % kPitchClasses)] += weight;
    total += weight;
  }
  if (total > 0) {
    for (double& bin : histogram) bin /= total;
  }
  return histogram;
}

GenerationMetrics compute_generation_metrics(const Score& prime, const Score& continuation,
                                             const MetricsOptions& options) {
  GenerationMetrics metrics;
  const std::vector<const Note*> notes = pitched_notes(continuation);
  metrics.note_count = static_cast<double>(notes.size());

  // Density over the span the caller names, or up to the last note end.
  const double span_end =
      options.length_beats > 0 ? options.start_beat + options.length_beats : continuation.end_beat();
  const double span = span_end - options.start_beat;
  if (span > 0) {
    const auto starting = std::count_if(notes.begin(), notes.end(), [&](const Note* note) {
      return note->start_beat >= options.start_beat && note->start_beat < span_end;
    });
    metrics.note_density = static_cast<double>(starting) / span;
  } else {
    metrics.note_density = kNaN;
  }

  const PitchClassHistogram prime_histogram = pitch_class_histogram(prime, options.weighting);
  const PitchClassHistogram continuation_histogram = pitch_class_histogram(continuation, options.weighting);
  const auto has_mass = [](const PitchClassHistogram& h) {
    return std::any_of(h.begin(), h.end(), [](double bin) { return bin > 0; });
  };
  if (has_mass(prime_histogram) && has_mass(continuation_histogram)) {
    double distance = 0;
    for (std::size_t pc = 0; pc < prime_histogram.size(); ++pc) {
      distance += std::abs(prime_histogram[pc] - continuation_histogram[pc]);
    }
    metrics.pitch_class_distance = distance;
  } else {
    metrics.pitch_class_distance = kNaN;
  }

  if (options.key_pc) {
    metrics.key_pc = ((*options.key_pc % kPitchClasses) + kPitchClasses) % kPitchClasses;
    metrics.key_scale = options.scale;
  } else if (const auto estimate = estimate_key(prime_histogram)) {
    metrics.key_pc = estimate->key_pc;
    metrics.key_scale = estimate->scale;
  }
  if (metrics.key_pc >= 0 && !notes.empty()) {
    const auto in_key = std::count_if(notes.begin(), notes.end(), [&](const Note* note) {
      return in_scale(note->pitch, metrics.key_pc, metrics.key_scale);
    });
    metrics.in_key_ratio = static_cast<double>(in_key) / static_cast<double>(notes.size());
  } else {
    metrics.in_key_ratio = kNaN;
  }

  if (options.grid_beats > 0 && !notes.empty()) {
    const auto aligned = std::count_if(notes.begin(), notes.end(), [&](const Note* note) {
      return on_grid(note->start_beat, options.grid_beats, options.grid_tolerance_beats);
    });
    metrics.onset_on_grid_ratio = static_cast<double>(aligned) / static_cast<double>(notes.size());
  } else {
    metrics.onset_on_grid_ratio = kNaN;
  }

  metrics.polyphony = mean_polyphony(notes);

  if (notes.empty()) {
    metrics.pitch_min = metrics.pitch_max = metrics.pitch_range = kNaN;
  } else {
    const auto [lowest, highest] = std::minmax_element(
        notes.begin(), notes.end(), [](const Note* a, const Note* b) { return a->pitch < b->pitch; });
    metrics.pitch_min = (*lowest)->pitch;
    metrics.pitch_max = (*highest)->pitch;
    metrics.pitch_range = metrics.pitch_max - metrics.pitch_min;
  }
  return metrics;
}

GenerationMetrics mean_generation_metrics(std::span<const GenerationMetrics> items) {
  constexpr double GenerationMetrics::*kFields[] = {
      &GenerationMetrics::note_count,
      &GenerationMetrics::note_density,
      &GenerationMetrics::pitch_class_distance,
      &GenerationMetrics::in_key_ratio,
      &GenerationMetrics::onset_on_grid_ratio,
      &GenerationMetrics::polyphony,
      &GenerationMetrics::pitch_min,
      &GenerationMetrics::pitch_max,
      &GenerationMetrics::pitch_range,
  };
  GenerationMetrics mean;
  for (auto field : kFields) {
    double sum = 0;
    int count = 0;
    for (const GenerationMetrics& item : items) {
      if (std::isfinite(item.*field)) {
        sum += item.*field;
        ++count;
      }
    }
    mean.*field = count > 0 ? sum / count : kNaN;
  }
  if (!items.empty()) {
    const bool same_key = std::all_of(items.begin(), items.end(), [&](const GenerationMetrics& item) {
      return item.key_pc == items.front().key_pc && item.key_scale == items.front().key_scale;
    });
    if (same_key) {
      mean.key_pc = items.front().key_pc;
      mean.key_scale = items.front().key_scale;
    }
  }
  return mean;
}

}  // namespace nextbeat::engine
