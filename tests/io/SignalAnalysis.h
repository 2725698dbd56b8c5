// Recorded or rendered audio for the audio tests: WAV files read back, and
// their level, pitch and onsets.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace nextbeat::test {

// A WAV file: its format chunk, where its chunks lie (for tests of a
// writer's header), and its samples.
struct Wav {
  std::uint16_t format = 0;  // 1: integer PCM, 3: IEEE float (the sub-format of WAVE_FORMAT_EXTENSIBLE)
  std::uint16_t channels = 0, bits = 0, block_align = 0;
  std::uint32_t rate = 0, byte_rate = 0;
  std::size_t file_bytes = 0;
  std::uint32_t riff_bytes = 0;  // the RIFF chunk's size field
  std::uint32_t fmt_bytes = 0;   // the "fmt " chunk's size field
  std::size_t data_offset = 0;   // where the "data" chunk's samples start
  std::uint32_t data_bytes = 0;  // the "data" chunk's size field
  std::vector<double> mono;      // the channels averaged, -1..1
};

namespace detail {
inline std::uint32_t u32_at(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return bytes[at] | bytes[at + 1] << 8 | bytes[at + 2] << 16 | static_cast<std::uint32_t>(bytes[at + 3]) << 24;
}
inline std::uint16_t u16_at(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return static_cast<std::uint16_t>(bytes[at] | bytes[at + 1] << 8);
}
}  // namespace detail

// Reads 16-bit PCM or 32-bit float WAV (what render_wav and jack_rec write);
// the chunks are walked rather than assumed. Throws std::runtime_error
// naming the file when it is not such a WAV file.
inline Wav read_wav(const std::filesystem::path& path) {
  using detail::u16_at;
  using detail::u32_at;
  const auto refuse = [&](const std::string& what) { throw std::runtime_error(path.string() + ": " + what); };
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0 || std::memcmp(bytes.data() + 8, "WAVE", 4) != 0)
    refuse("not a RIFF WAVE file");
  Wav wav;
  wav.file_bytes = bytes.size();
  wav.riff_bytes = u32_at(bytes, 4);
  for (std::size_t at = 12; at + 8 <= bytes.size();) {
    const std::uint32_t size = u32_at(bytes, at + 4);
    const std::size_t body = at + 8;
    if (body + size > bytes.size()) refuse("a chunk runs past the end of the file");
    if (std::memcmp(bytes.data() + at, "fmt ", 4) == 0) {
      wav.fmt_bytes = size;
      wav.format = u16_at(bytes, body);
      wav.channels = u16_at(bytes, body + 2);
      wav.rate = u32_at(bytes, body + 4);
      wav.byte_rate = u32_at(bytes, body + 8);
      wav.block_align = u16_at(bytes, body + 12);
      wav.bits = u16_at(bytes, body + 14);
      if (wav.format == 0xFFFE) wav.format = u16_at(bytes, body + 24);  // WAVE_FORMAT_EXTENSIBLE: the sub-format
    } else if (std::memcmp(bytes.data() + at, "data", 4) == 0) {
      if (wav.channels == 0) refuse("no format chunk before the data");
      if (!(wav.format == 1 && wav.bits == 16) && !(wav.format == 3 && wav.bits == 32))
        refuse("unexpected WAV format " + std::to_string(wav.format) + " with " + std::to_string(wav.bits) + " bits");
      wav.data_offset = body;
      wav.data_bytes = size;
      const std::size_t sample_bytes = wav.bits / 8;
      const std::size_t frame_bytes = wav.channels * sample_bytes;
      for (std::size_t frame = body; frame + frame_bytes <= body + size; frame += frame_bytes) {
        double sum = 0;
        for (std::size_t c = 0; c < wav.channels; ++c) {
          const std::size_t sample = frame + c * sample_bytes;
          if (wav.format == 1) {
            sum += static_cast<std::int16_t>(u16_at(bytes, sample)) / 32768.0;
          } else {
            float value = 0;
            std::memcpy(&value, bytes.data() + sample, 4);
            sum += value;
          }
        }
        wav.mono.push_back(sum / wav.channels);
      }
    }
    at = body + size + (size & 1);  // chunks are padded to even sizes
  }
  if (wav.rate == 0) refuse("no sample rate");
  return wav;
}

// The largest magnitude in x.
inline double peak(const std::vector<double>& x) {
  double value = 0;
  for (double sample : x) value = std::max(value, std::abs(sample));
  return value;
}

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

// The pitch of x[begin, end): the frequency of most power on a scan from
// low_hz to high_hz in steps of step_hz (scan coarsely, then finely around
// the answer).
inline double strongest_frequency(const std::vector<double>& x, std::size_t begin, std::size_t end, int rate,
                                  double low_hz, double high_hz, double step_hz) {
  double best_hz = low_hz, best_power = -1;
  const int steps = static_cast<int>((high_hz - low_hz) / step_hz);
  for (int step = 0; step <= steps; ++step) {
    const double hz = low_hz + step * step_hz;
    const double power = power_at(x, begin, end, hz, rate);
    if (power > best_power) {
      best_power = power;
      best_hz = hz;
    }
  }
  return best_hz;
}

}  // namespace nextbeat::test
