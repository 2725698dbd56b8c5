// AudioOutput through RtAudio's JACK API, recorded by jack_rec. Runs under
// tests/tools/with_jackd.sh: a private `jackd -d dummy -r 48000 -p 256`
// whose clock runs in real time, so the recordings are real-time renders.
#include "io/audio/AudioOutput.h"

#include "SignalAnalysis.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "OutputEvents.h"
#include "TestPeers.h"
#include "engine/util/TempDirectory.h"

using namespace nextbeat;
using engine::OutputEvent;
using engine::OutputKind;
namespace fs = std::filesystem;

namespace {

// RtAudio names its JACK client after StreamOptions::streamName and its
// ports "outport N".
const std::string kLeftPort = "nextbeat-audio:outport 0";

using engine::TempDirectory;
using test::peak;
using test::read_wav;
using test::rms;
using test::strongest_frequency;
using test::Wav;

// Where each sound starts: the first sample above -40 dB of the peak after
// at least `gap` samples below it.
std::vector<std::size_t> onsets(const std::vector<double>& x, std::size_t gap) {
  const double threshold = 0.01 * peak(x);
  std::vector<std::size_t> found;
  std::size_t quiet = gap;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::abs(x[i]) <= threshold) {
      ++quiet;
      continue;
    }
    if (quiet >= gap) found.push_back(i);
    quiet = 0;
  }
  return found;
}

// jack_rec recording our left channel for `seconds`; started and connected
// before the constructor returns, so nothing emitted afterwards is missed.
class JackRec {
 public:
  JackRec(const fs::path& wav, int seconds)
      : child_({"jack_rec", "-f", wav.string(), "-d", std::to_string(seconds), kLeftPort}) {
    const bool connected = test::wait_until([] {
      test::Child lsp({"jack_lsp", "-c", "jackrec:input1"});
      lsp.close_stdin();
      for (std::optional<std::string> line; (line = lsp.read_line());) {
        if (line->find(kLeftPort) != std::string::npos) return true;
      }
      return false;
    });
    if (!connected) throw std::runtime_error("jack_rec did not connect to " + kLeftPort);
  }
  // Waits for the recording to end.
  void finish() {
    child_.close_stdin();
    REQUIRE(child_.wait() == 0);
  }

 private:
  test::Child child_;
};

// On channel 0.
OutputEvent note(OutputKind kind, int pitch, std::int64_t time_ns, int velocity = 0) {
  return test::output_event(kind, 0, pitch, velocity, time_ns);
}

constexpr std::int64_t kMs = 1'000'000;

}  // namespace

TEST_CASE("AudioOutput: plays notes through JACK at their times, and all-notes-off drops pending ones", "[audio]") {
  config::AudioConfig config;
  config.enabled = true;
  config.api = config::AudioApi::kJack;
  io::AudioOutput audio(config);
  CHECK(audio.api_name() == "jack");
  CHECK(audio.device_name() == "system");
  CHECK(audio.sample_rate() == 48000);  // the server's rate (with_jackd.sh), whatever the config says
  CHECK(audio.buffer_frames() == 256);  // the server's period
  CHECK_THAT(audio.describe(), Catch::Contains("FluidR3_GM.sf2"));
  REQUIRE(test::wait_until([&] { return audio.callbacks() > 0; }));
  TempDirectory dir("nextbeat-audiotest");

  SECTION("all-notes-off drops a note still pending: the recording stays silent") {
    JackRec rec(dir.path() / "silence.wav", 2);
    const std::int64_t now_ns = test::steady_now_ns();
    audio.emit(note(OutputKind::kNoteOn, 69, now_ns + 500 * kMs, 100));
    audio.emit(note(OutputKind::kNoteOff, 69, now_ns + 900 * kMs));
    audio.emit(note(OutputKind::kAllNotesOff, 0, now_ns));
    rec.finish();
    const Wav recording = read_wav(dir.path() / "silence.wav");
    REQUIRE(recording.mono.size() >= 48000);
    CHECK(peak(recording.mono) < 1e-3);
  }

  SECTION("A4 sounds at 440 Hz, and a second note starts when it was asked to") {
    JackRec rec(dir.path() / "a4.wav", 3);
    const std::int64_t now_ns = test::steady_now_ns();
    // Both notes are handed over at once, well ahead: the audio callback
    // alone places them, at 0.2 s and 1.9 s.
    audio.emit(note(OutputKind::kNoteOn, 69, now_ns + 200 * kMs, 100));
    audio.emit(note(OutputKind::kNoteOff, 69, now_ns + 700 * kMs));
    audio.emit(note(OutputKind::kNoteOn, 69, now_ns + 1900 * kMs, 100));
    audio.emit(note(OutputKind::kNoteOff, 69, now_ns + 2300 * kMs));
    audio.emit(note(OutputKind::kBeat, 0, now_ns));  // not audio: ignored
    rec.finish();
    const Wav recording = read_wav(dir.path() / "a4.wav");
    const std::vector<double>& x = recording.mono;
    const int rate = static_cast<int>(recording.rate);
    REQUIRE(rate == 48000);
    REQUIRE(x.size() >= static_cast<std::size_t>(2.5 * rate));

    // Two notes, the first one's release long gone when the second starts.
    const std::vector<std::size_t> starts = onsets(x, static_cast<std::size_t>(0.1 * rate));
    INFO("onsets at frames " << Catch::Detail::stringify(starts));
    REQUIRE(starts.size() == 2);
    const std::size_t first = starts[0];
    const std::size_t begin = first + static_cast<std::size_t>(0.1 * rate);
    const std::size_t end = first + static_cast<std::size_t>(0.5 * rate);
    REQUIRE(end < x.size());
    const double note_rms = rms(x, begin, end);
    INFO("note RMS " << note_rms);
    CHECK(note_rms > 0.01);
    const double coarse = strongest_frequency(x, begin, end, rate, 100, 2000, 2);
    const double fine = strongest_frequency(x, begin, end, rate, coarse - 2, coarse + 2, 0.25);
    CHECK(fine == Approx(440).margin(2));

    // 1.7 s apart in the recording as in the timestamps. Each block is
    // placed by the time its callback started, so the error is that
    // callback's wake-up jitter (about a millisecond on an idle machine); a
    // loaded machine gets a generous margin. Played on arrival instead, the
    // two would start together.
    const double apart_s = static_cast<double>(starts[1] - first) / rate;
    INFO("second note " << apart_s << " s after the first; late events " << audio.late_events() << ", xruns "
                        << audio.xruns());
    CHECK(apart_s == Approx(1.7).margin(0.05));
  }

  audio.stop();
  const std::uint64_t callbacks = audio.callbacks();
  CHECK(callbacks > 0);
  CHECK(audio.dropped_events() == 0);
  ::usleep(100'000);
  CHECK(audio.callbacks() == callbacks);  // stopped for good
  audio.stop();                           // idempotent
}

TEST_CASE("AudioOutput: a missing soundfont is named before any device is opened", "[audio-errors]") {
  config::AudioConfig config;
  config.soundfont = "/nonexistent/piano.sf2";
  CHECK_THROWS_WITH(io::AudioOutput(config), Catch::Contains("/nonexistent/piano.sf2"));
  config.soundfont = "/etc/hostname";
  CHECK_THROWS_WITH(io::AudioOutput(config), Catch::Contains("not a SoundFont"));
}

TEST_CASE("AudioOutput: a device that does not exist is named, with the ones that do", "[audio-errors-jack]") {
  config::AudioConfig config;
  config.api = config::AudioApi::kJack;
  config.device = "no such card";
  try {
    io::AudioOutput audio(config);
    FAIL("no exception");
  } catch (const std::runtime_error& error) {
    CHECK_THAT(std::string(error.what()), Catch::Contains("\"no such card\" (audio.device)"));
    CHECK_THAT(std::string(error.what()), Catch::Contains("\"system\""));
  }
}
