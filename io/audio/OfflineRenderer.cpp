#include "io/audio/OfflineRenderer.h"

#include "io/audio/FluidSynthSetup.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

namespace nextbeat::io {
namespace {

using detail::fluid_error_suffix;
using detail::make_synth;
using detail::make_synth_settings;
using detail::set_str_if_present;
using detail::SettingsPtr;
using detail::SynthPtr;

SettingsPtr make_settings(const RenderOptions& options) {
  // Offline: load only the samples of the presets used (the GM font is 140 MB).
  SettingsPtr settings = make_synth_settings(options.sample_rate, options.gain, /*dynamic_sample_loading=*/true);
  // Nothing here creates an audio driver, MIDI driver, shell server or LASH
  // client, but these keep any code that reads the settings from opening a
  // device or a port.
  set_str_if_present(settings.get(), "audio.driver", "file");
  set_str_if_present(settings.get(), "audio.file.name", "/dev/null");
  return settings;
}

// --- The output file ---------------------------------------------------------
//
// io cannot use engine's write_file_atomically, and a render streams its
// samples rather than holding the whole file, so this is a streaming twin:
// a temporary file in the same directory, fsynced and renamed over the target
// on commit, removed on every other path.

class AtomicOutputFile {
 public:
  explicit AtomicOutputFile(std::filesystem::path path) : path_(std::move(path)) {
    static std::atomic<unsigned long> counter{0};
    temp_path_ = path_.parent_path() / ("." + path_.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                                        std::to_string(counter.fetch_add(1)));
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0) fail(errno, "creating temporary file '" + temp_path_.string() + "'");
  }
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;
  ~AtomicOutputFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_path_.c_str());
  }

  void write(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, bytes, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(errno, "writing temporary file '" + temp_path_.string() + "'");
      }
      bytes += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) fail(errno, "syncing temporary file '" + temp_path_.string() + "'");
    const int result = ::close(fd_);
    fd_ = -1;
    if (result != 0) fail(errno, "closing temporary file '" + temp_path_.string() + "'");
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail(errno, "renaming the temporary file over it");
    committed_ = true;
    const std::filesystem::path directory = path_.parent_path().empty() ? "." : path_.parent_path();
    const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {  // durability of the rename; the file is in place either way
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }

 private:
  [[noreturn]] void fail(int error, const std::string& step) const {
    throw std::runtime_error("cannot write WAV file '" + path_.string() + "' (" + step + "): " + std::strerror(error));
  }

  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

// RIFF/WAVE, PCM, little-endian whatever the host.
std::array<std::uint8_t, 44> wav_header(int sample_rate, std::uint32_t frames) {
  constexpr int kChannels = 2, kBytesPerSample = 2;
  const std::uint32_t data_bytes = frames * kChannels * kBytesPerSample;
  std::array<std::uint8_t, 44> header{};
  std::size_t at = 0;
  const auto put_tag = [&](const char* tag) {
    std::memcpy(header.data() + at, tag, 4);
    at += 4;
  };
  const auto put_u32 = [&](std::uint32_t value) {
    for (int i = 0; i < 4; ++i) header[at++] = static_cast<std::uint8_t>(value >> (8 * i));
  };
  const auto put_u16 = [&](std::uint16_t value) {
    header[at++] = static_cast<std::uint8_t>(value);
    header[at++] = static_cast<std::uint8_t>(value >> 8);
  };
  put_tag("RIFF");
  put_u32(36 + data_bytes);
  put_tag("WAVE");
  put_tag("fmt ");
  put_u32(16);  // PCM fmt chunk size
  put_u16(1);   // PCM
  put_u16(kChannels);
  put_u32(static_cast<std::uint32_t>(sample_rate));
  put_u32(static_cast<std::uint32_t>(sample_rate * kChannels * kBytesPerSample));  // byte rate
  put_u16(kChannels * kBytesPerSample);                                            // block align
  put_u16(8 * kBytesPerSample);                                                    // bits per sample
  put_tag("data");
  put_u32(data_bytes);
  return header;
}

struct Event {
  std::int64_t frame = 0;
  bool on = false;
  int channel = 0;
  int pitch = 0;
  int velocity = 0;
};

void validate(const std::vector<RenderNote>& notes, const RenderOptions& options) {
  if (options.sample_rate < 8000 || options.sample_rate > 96000) {
    throw std::invalid_argument("render: sample_rate must be 8000..96000 Hz, not " +
                                std::to_string(options.sample_rate));
  }
  if (options.program < 0 || options.program > 127) {
    throw std::invalid_argument("render: program must be 0..127, not " + std::to_string(options.program));
  }
  if (!(options.gain >= 0 && options.gain <= 10)) {
    throw std::invalid_argument("render: gain must be 0..10, not " + std::to_string(options.gain));
  }
  if (!(options.tail_s >= 0 && options.tail_s <= 3600)) {
    throw std::invalid_argument("render: tail_s must be 0..3600 s, not " + std::to_string(options.tail_s));
  }
  for (std::size_t i = 0; i < notes.size(); ++i) {
    const RenderNote& note = notes[i];
    const auto bad = [&](const std::string& what) {
      throw std::invalid_argument("render: note " + std::to_string(i) + " (pitch " + std::to_string(note.pitch) +
                                  ", start " + std::to_string(note.start_s) + " s): " + what);
    };
    if (note.pitch < 0 || note.pitch > 127) bad("pitch must be 0..127");
    if (note.velocity < 1 || note.velocity > 127) bad("velocity must be 1..127");
    if (note.channel < 0 || note.channel > 15) bad("channel must be 0..15");
    if (!std::isfinite(note.start_s) || note.start_s < 0) bad("start_s must be finite and >= 0");
    if (!std::isfinite(note.end_s) || note.end_s < note.start_s) bad("end_s must be finite and >= start_s");
  }
}

}  // namespace

void render_wav(const std::vector<RenderNote>& notes, const std::filesystem::path& wav, const RenderOptions& options) {
  validate(notes, options);
  detail::check_soundfont(options.soundfont, "");

  // Events in frames, each note's end at least a frame after its start so that
  // the sort (ends before starts at one frame: a repeated note re-sounds)
  // never puts a note's own end first.
  const double rate = options.sample_rate;
  std::vector<Event> events;
  events.reserve(notes.size() * 2);
  double last_end_s = 0;
  for (const RenderNote& note : notes) {
    const auto start = static_cast<std::int64_t>(std::llround(note.start_s * rate));
    const auto end = std::max(start + 1, static_cast<std::int64_t>(std::llround(note.end_s * rate)));
    events.push_back({start, true, note.channel, note.pitch, note.velocity});
    events.push_back({end, false, note.channel, note.pitch, 0});
    last_end_s = std::max(last_end_s, note.end_s);
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return std::tie(a.frame, a.on) < std::tie(b.frame, b.on); });
  std::int64_t total_frames = static_cast<std::int64_t>(std::ceil((last_end_s + options.tail_s) * rate));
  if (!events.empty()) total_frames = std::max(total_frames, events.back().frame + 1);
  constexpr std::int64_t kMaxFrames = (0xFFFFFFFFLL - 36) / 4;  // the RIFF size field is 32 bits
  if (total_frames > kMaxFrames) {
    throw std::invalid_argument("render: " + std::to_string(total_frames / options.sample_rate) +
                                " s is too long for a WAV file");
  }

  SettingsPtr settings = make_settings(options);
  SynthPtr synth = make_synth(settings.get(), options.soundfont, options.program, "");

  // Opened before rendering, so an unwritable output fails at once.
  AtomicOutputFile out(wav);
  const auto header = wav_header(options.sample_rate, static_cast<std::uint32_t>(total_frames));
  out.write(header.data(), header.size());

  // FluidSynth renders in internal blocks and starts voices only at a block's
  // beginning: an event sent after `rendered` frames takes effect at the next
  // block boundary at or after `rendered`. Rendering up to half a block before
  // an event's frame puts it on the boundary nearest its frame.
  const std::int64_t block = std::max(1, fluid_synth_get_internal_bufsize(synth.get()));
  const std::int64_t half_block = block / 2;
  constexpr std::int64_t kChunkFrames = 4096;
  std::vector<float> left(kChunkFrames), right(kChunkFrames);
  std::vector<std::uint8_t> pcm(kChunkFrames * 4);
  std::int64_t rendered = 0;
  const auto render_until = [&](std::int64_t until) {
    while (rendered < until) {
      const std::int64_t n = std::min(kChunkFrames, until - rendered);
      if (fluid_synth_write_float(synth.get(), static_cast<int>(n), left.data(), 0, 1, right.data(), 0, 1) !=
          FLUID_OK) {
        throw std::runtime_error("FluidSynth: rendering failed" + fluid_error_suffix());
      }
      for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
        for (std::size_t c = 0; c < 2; ++c) {
          const float sample = (c == 0 ? left : right)[i];
          const auto value = static_cast<std::int16_t>(std::lround(std::clamp(sample, -1.0f, 1.0f) * 32767.0f));
          const auto bits = static_cast<std::uint16_t>(value);
          pcm[i * 4 + c * 2] = static_cast<std::uint8_t>(bits);
          pcm[i * 4 + c * 2 + 1] = static_cast<std::uint8_t>(bits >> 8);
        }
      }
      out.write(pcm.data(), static_cast<std::size_t>(n * 4));
      rendered += n;
    }
  };
  for (const Event& event : events) {
    render_until(std::max<std::int64_t>(0, event.frame - half_block));
    if (event.on) {
      fluid_synth_noteon(synth.get(), event.channel, event.pitch, event.velocity);
    } else {
      fluid_synth_noteoff(synth.get(), event.channel, event.pitch);
    }
  }
  render_until(total_frames);
  out.commit();
}

}  // namespace nextbeat::io
