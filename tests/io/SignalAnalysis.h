// Level and pitch of recorded or rendered audio, for the audio tests.
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

namespace nextbeat::test {

// Root mean square of x[begin, end).
inline double rms(const std::vector<double>& x, std::size_t begin, std::size_t end) {
  double sum = 0;
  for (std::size_t i = begin; i < end; ++i) sum += x[i] * x[i];
  return std::sqrt(sum / static_cast<double>(end - begin));
}

// Goertzel power of one frequency over x[begin, end), Hann-windowed.
inline double power_at(const std::vector<double>& x, std::size_t begin, std::size_t end, double hz, int rate) {
  const double n = static_cast<double>(end - begin);
  const double coefficient = 2 * std::cos(2 * std::numbers::pi * hz / rate);
  double s1 = 0, s2 = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const double window = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * static_cast<double>(i - begin) / n);
    const double s0 = x[i] * window + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coefficient * s1 * s2;
}

}  // namespace nextbeat::test
