#include "io/audio/OfflineRenderer.h"

#include "SignalAnalysis.h"
#include "engine/util/TempDirectory.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace nextbeat::io;
namespace fs = std::filesystem;

namespace {

constexpr int kRate = 48000;

using nextbeat::engine::TempDirectory;
using nextbeat::test::read_wav;
using nextbeat::test::Wav;

std::size_t frame_at(double seconds) {
  return static_cast<std::size_t>(seconds * kRate);
}

double rms(const std::vector<double>& x, double from_s, double to_s) {
  return nextbeat::test::rms(x, frame_at(from_s), frame_at(to_s));
}

double strongest_frequency(const std::vector<double>& x, double from_s, double to_s, double low_hz, double high_hz,
                           double step_hz) {
  return nextbeat::test::strongest_frequency(x, frame_at(from_s), frame_at(to_s), kRate, low_hz, high_hz, step_hz);
}

// The first frame louder than -60 dB below the peak. Before a note the file is
// digital silence, so this finds where the waveform begins; the piano's
// attack then takes milliseconds to reach its peak, so a higher threshold
// would measure the attack's shape rather than the start.
std::size_t onset_frame(const std::vector<double>& x) {
  const double peak = nextbeat::test::peak(x);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::abs(x[i]) > 1e-3 * peak) return i;
  }
  return x.size();
}

}  // namespace

TEST_CASE("render_wav: an A4 piano note, its header, level, pitch and onset", "[unit]") {
  TempDirectory dir("nextbeat-rendertest");
  const fs::path path = dir.path() / "a4.wav";
  RenderOptions options;  // program 0, 48 kHz, tail 1 s
  render_wav({RenderNote{69, 100, 0, 0.5, 1.5}}, path, options);
  const Wav wav = read_wav(path);

  // The 44-byte header render_wav writes, with consistent RIFF sizes.
  CHECK(wav.riff_bytes == wav.file_bytes - 8);
  CHECK(wav.fmt_bytes == 16);
  CHECK(wav.data_offset == 44);
  CHECK(wav.data_bytes == wav.file_bytes - 44);
  CHECK(wav.channels == 2);
  CHECK(wav.bits == 16);
  CHECK(wav.format == 1);
  CHECK(wav.rate == kRate);
  CHECK(wav.byte_rate == kRate * 4);
  CHECK(wav.block_align == 4);
  CHECK(wav.mono.size() == static_cast<std::size_t>((1.5 + 1.0) * kRate));  // last end + tail

  const double note_rms = rms(wav.mono, 0.55, 1.45);
  CHECK(note_rms > 0.01);
  CHECK(rms(wav.mono, 0.0, 0.49) < 1e-4);  // silence before the note
  INFO("note RMS " << note_rms << ", last 0.2 s RMS " << rms(wav.mono, 2.3, 2.5));
  CHECK(rms(wav.mono, 2.3, 2.5) < 0.05 * note_rms);  // the note-off was sent: the note has died away

  // The fundamental, on a 2 Hz scan over 100..2000 Hz, then 0.25 Hz around it.
  const double coarse = strongest_frequency(wav.mono, 0.6, 1.4, 100, 2000, 2);
  const double fine = strongest_frequency(wav.mono, 0.6, 1.4, coarse - 2, coarse + 2, 0.25);
  CHECK(fine == Approx(440).margin(2));

  // Starts at 0.5 s = frame 24000, a multiple of FluidSynth's 64-frame block.
  const std::size_t onset = onset_frame(wav.mono);
  INFO("onset at frame " << onset);
  CHECK(std::abs(static_cast<double>(onset) - 24000) <= 0.001 * kRate);
}

TEST_CASE("render_wav: starts between blocks land on the nearest block", "[unit]") {
  TempDirectory dir("nextbeat-rendertest");
  // FluidSynth starts voices at 64-frame block boundaries, so a start is
  // rounded to the nearest one: within 32 frames. Measured against the same
  // note starting on a boundary, which has the same attack.
  const auto onset_for = [&](int start_frame) {
    const fs::path path = dir.path() / ("start" + std::to_string(start_frame) + ".wav");
    render_wav({RenderNote{69, 100, 0, start_frame / double(kRate), start_frame / double(kRate) + 0.3}}, path,
               RenderOptions{.tail_s = 0.2});
    return static_cast<double>(onset_frame(read_wav(path).mono));
  };
  const double reference = onset_for(12800) - 12800;  // the soundfont's own attack delay
  INFO("attack delay " << reference << " frames");
  CHECK(reference >= 0);
  CHECK(reference < 48);
  for (int offset : {1, 16, 31, 32, 33, 48, 63}) {
    const double onset = onset_for(12800 + offset) - reference;
    INFO("offset " << offset << ": onset " << onset << ", expected " << 12800 + offset);
    CHECK(std::abs(onset - (12800 + offset)) <= 32);
  }
}

TEST_CASE("render_wav: several notes, channels and the drum kit", "[unit]") {
  TempDirectory dir("nextbeat-rendertest");
  const fs::path path = dir.path() / "mix.wav";
  std::vector<RenderNote> notes;
  for (int i = 0; i < 8; ++i) notes.push_back({60 + 2 * i, 90, i % 2, i * 0.125, i * 0.125 + 0.25});
  notes.push_back({36, 110, 9, 0.0, 0.1});  // kick
  notes.push_back({64, 80, 0, 0.5, 0.5});   // zero length: still a blip
  notes.push_back({64, 80, 0, 0.55, 0.7});  // the same key again
  render_wav(notes, path, RenderOptions{.tail_s = 0.5});
  const Wav wav = read_wav(path);
  CHECK(wav.mono.size() == static_cast<std::size_t>((1.125 + 0.5) * kRate));
  CHECK(rms(wav.mono, 0.0, 1.1) > 0.01);
}

TEST_CASE("render_wav: no notes give the tail's silence", "[unit]") {
  TempDirectory dir("nextbeat-rendertest");
  const fs::path path = dir.path() / "silence.wav";
  render_wav({}, path, RenderOptions{.tail_s = 0.25});
  const Wav wav = read_wav(path);
  CHECK(wav.mono.size() == static_cast<std::size_t>(0.25 * kRate));
  CHECK(rms(wav.mono, 0, 0.25) == 0);
}

TEST_CASE("render_wav: clear errors, and no file or temporary left", "[unit]") {
  TempDirectory dir("nextbeat-rendertest");
  const fs::path path = dir.path() / "out.wav";
  const std::vector<RenderNote> one = {RenderNote{60, 100, 0, 0, 0.1}};

  SECTION("a missing soundfont names the package") {
    RenderOptions options;
    options.soundfont = (dir.path() / "missing.sf2").string();
    try {
      render_wav(one, path, options);
      FAIL("no exception");
    } catch (const std::runtime_error& error) {
      CHECK_THAT(std::string(error.what()), Catch::Contains("missing.sf2"));
      CHECK_THAT(std::string(error.what()), Catch::Contains("fluid-soundfont-gm"));
    }
  }
  SECTION("a file that is not a soundfont") {
    RenderOptions options;
    options.soundfont = (dir.path() / "not.sf2").string();
    std::ofstream(options.soundfont) << "not a soundfont";
    CHECK_THROWS_WITH(render_wav(one, path, options), Catch::Contains("cannot load soundfont"));
  }
  SECTION("an unwritable output names the path") {
    const fs::path bad = dir.path() / "no-such-dir" / "out.wav";
    try {
      render_wav(one, bad, {});
      FAIL("no exception");
    } catch (const std::runtime_error& error) {
      CHECK_THAT(std::string(error.what()), Catch::Contains(bad.string()));
      CHECK_THAT(std::string(error.what()), Catch::Contains("No such file or directory"));
    }
  }
  SECTION("bad notes and options") {
    CHECK_THROWS_AS(render_wav({RenderNote{128, 100, 0, 0, 1}}, path, {}), std::invalid_argument);
    CHECK_THROWS_AS(render_wav({RenderNote{60, 0, 0, 0, 1}}, path, {}), std::invalid_argument);
    CHECK_THROWS_AS(render_wav({RenderNote{60, 100, 16, 0, 1}}, path, {}), std::invalid_argument);
    CHECK_THROWS_WITH(render_wav({RenderNote{60, 100, 0, 1, 0.5}}, path, {}), Catch::Contains("note 0"));
    CHECK_THROWS_AS(render_wav({RenderNote{60, 100, 0, std::nan(""), 1}}, path, {}), std::invalid_argument);
    CHECK_THROWS_AS(render_wav(one, path, RenderOptions{.sample_rate = 1000}), std::invalid_argument);
  }
  CHECK_FALSE(fs::exists(path));
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);
  }
}

TEST_CASE("render_wav replaces an existing file", "[unit]") {
  TempDirectory dir("nextbeat-rendertest");
  const fs::path path = dir.path() / "again.wav";
  std::ofstream(path) << "old contents";
  render_wav({}, path, RenderOptions{.tail_s = 0.1});
  CHECK(read_wav(path).mono.size() == static_cast<std::size_t>(0.1 * kRate));
}
