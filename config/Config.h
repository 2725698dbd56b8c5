// The whole nextbeat configuration as typed structs, with the defaults of
// DESIGN.md "Config". Every key has a default; a file only names what it
// changes. Key names are user-facing: keep them stable.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nextbeat::config {

enum class Device { kAuto, kCpu, kCuda };
// Weights of the live step: fp32 gives the training model's distributions;
// fp16 and int8 read half or a quarter of the bytes, for models too big for
// the cache (docs/PERFORMANCE.md gives the measured tolerance).
enum class WeightPrecision { kFloat32, kFloat16, kInt8 };
// model.precision: one of them, or auto (the fastest whose results stay
// within its stated tolerance on this model, measured at load).
enum class PrecisionSetting { kAuto, kFloat32, kFloat16, kInt8 };
enum class MidiApi { kAuto, kJack, kAlsa };
enum class AudioApi { kAuto, kJack, kAlsa, kPulse };
enum class ClockSource { kInternal, kMidi, kLink };
enum class Mode { kContinue, kCallResponse, kAccompany };
enum class Fallback { kRest, kRepeat, kHold };
// When a mode switch, key change or model swap requested while playing takes effect.
enum class Quantize { kBar, kBeat, kNone };
enum class Scale { kMajor, kMinor, kDorian, kMixolydian, kPentatonic, kBlues, kChromatic };
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };

// The spelling of each enum value in config files, OSC and logs.
template <class E>
struct EnumNames;

#define NEXTBEAT_ENUM_NAMES(E, ...)                                                              \
  template <>                                                                                    \
  struct EnumNames<E> {                                                                          \
    static constexpr auto kNames = std::to_array<std::pair<E, std::string_view>>({__VA_ARGS__}); \
  }

NEXTBEAT_ENUM_NAMES(Device, {Device::kAuto, "auto"}, {Device::kCpu, "cpu"}, {Device::kCuda, "cuda"});
NEXTBEAT_ENUM_NAMES(WeightPrecision, {WeightPrecision::kFloat32, "fp32"}, {WeightPrecision::kFloat16, "fp16"},
                    {WeightPrecision::kInt8, "int8"});
NEXTBEAT_ENUM_NAMES(PrecisionSetting, {PrecisionSetting::kAuto, "auto"}, {PrecisionSetting::kFloat32, "fp32"},
                    {PrecisionSetting::kFloat16, "fp16"}, {PrecisionSetting::kInt8, "int8"});
NEXTBEAT_ENUM_NAMES(MidiApi, {MidiApi::kAuto, "auto"}, {MidiApi::kJack, "jack"}, {MidiApi::kAlsa, "alsa"});
NEXTBEAT_ENUM_NAMES(AudioApi, {AudioApi::kAuto, "auto"}, {AudioApi::kJack, "jack"}, {AudioApi::kAlsa, "alsa"},
                    {AudioApi::kPulse, "pulse"});
NEXTBEAT_ENUM_NAMES(ClockSource, {ClockSource::kInternal, "internal"}, {ClockSource::kMidi, "midi"},
                    {ClockSource::kLink, "link"});
NEXTBEAT_ENUM_NAMES(Mode, {Mode::kContinue, "continue"}, {Mode::kCallResponse, "call-response"},
                    {Mode::kAccompany, "accompany"});
NEXTBEAT_ENUM_NAMES(Fallback, {Fallback::kRest, "rest"}, {Fallback::kRepeat, "repeat"}, {Fallback::kHold, "hold"});
NEXTBEAT_ENUM_NAMES(Quantize, {Quantize::kBar, "bar"}, {Quantize::kBeat, "beat"}, {Quantize::kNone, "none"});
NEXTBEAT_ENUM_NAMES(Scale, {Scale::kMajor, "major"}, {Scale::kMinor, "minor"}, {Scale::kDorian, "dorian"},
                    {Scale::kMixolydian, "mixolydian"}, {Scale::kPentatonic, "pentatonic"}, {Scale::kBlues, "blues"},
                    {Scale::kChromatic, "chromatic"});
NEXTBEAT_ENUM_NAMES(LogLevel, {LogLevel::kTrace, "trace"}, {LogLevel::kDebug, "debug"}, {LogLevel::kInfo, "info"},
                    {LogLevel::kWarn, "warn"}, {LogLevel::kError, "error"}, {LogLevel::kCritical, "critical"},
                    {LogLevel::kOff, "off"});
#undef NEXTBEAT_ENUM_NAMES

template <class E>
constexpr std::string_view enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::kNames) {
    if (v == value) return name;
  }
  return "?";
}

template <class E>
constexpr std::optional<E> enum_from_name(std::string_view name) {
  for (const auto& [v, n] : EnumNames<E>::kNames) {
    if (n == name) return v;
  }
  return std::nullopt;
}

// "a | b | c", for error messages and --help.
template <class E>
std::string enum_choices() {
  std::string out;
  for (const auto& [v, name] : EnumNames<E>::kNames) {
    if (!out.empty()) out += " | ";
    out += name;
  }
  return out;
}

struct ModelConfig {
  std::string path = "default:events";  // a model file, or default:events | default:pianoroll
  Device device = Device::kAuto;
  PrecisionSetting precision = PrecisionSetting::kAuto;
  int threads = 1;
  // Directories /nextbeat/model may load from, besides default:. The config's
  // own path is trusted; a path from OSC (any local user can send one) is not.
  std::vector<std::string> dirs;
  bool operator==(const ModelConfig&) const = default;
};

struct MidiConfig {
  MidiApi api = MidiApi::kAuto;
  std::vector<std::string> inputs{"*"};  // port-name substrings; "*" = every hardware input
  std::vector<int> input_channels;       // 1..16; empty = all
  std::string virtual_input = "nextbeat in";
  std::string output;  // port-name substring; "" = the virtual port "nextbeat out"
  int channel = 1;     // 1..16, the channel nextbeat plays on
  // Split keyboard: performer notes below this MIDI note are chord hints
  // (harmony for the key and chord followers, not melody); 0 = off.
  int split_note = 0;
  bool operator==(const MidiConfig&) const = default;
};

struct OscConfig {
  bool enabled = true;
  std::string bind = "127.0.0.1";
  int port = 9000;
  std::string reply_host = "127.0.0.1";
  int reply_port = 9001;
  std::vector<std::string> allow{"127.0.0.1"};  // source addresses accepted
  bool operator==(const OscConfig&) const = default;
};

struct AudioConfig {
  bool enabled = false;
  AudioApi api = AudioApi::kAuto;
  std::string device;  // "" = the API's default output
  int sample_rate = 48000;
  int buffer_frames = 128;
  std::string soundfont = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
  int program = 0;  // General MIDI program, 0..127
  double gain = 0.5;
  bool operator==(const AudioConfig&) const = default;
};

struct ClockConfig {
  ClockSource source = ClockSource::kInternal;
  double tempo_bpm = 120.0;
  int beats_per_bar = 4;
  bool send_midi_clock = false;
  // source = "link" (Ableton Link): follow the session's start/stop too
  // (only peers that enabled it share it; off: nextbeat always plays).
  bool link_start_stop = false;
  // source = "link": how much later than its timestamp an event is heard,
  // beyond the audio stream's own latency (which nextbeat adds itself when
  // [audio] is on): a MIDI synth's or an interface's delay. nextbeat plays
  // that much early so that what is heard lands on the session's beat.
  double link_latency_ms = 0.0;
  bool operator==(const ClockConfig&) const = default;
};

struct EngineConfig {
  Mode mode = Mode::kContinue;
  double latency_budget_ms = 5.0;
  int context_beats = 32;
  double gap_beats = 2.0;
  int response_beats = 4;
  Fallback fallback = Fallback::kRest;
  double max_note_beats = 8.0;
  // Events models: at most this many of nextbeat's notes at once; a new one
  // ends the one held longest. 0 = no cap.
  int max_voices = 4;
  // A mode switch, key or scale change or model swap requested while the
  // performer plays lands on the next bar line (beats_per_bar), the next
  // beat, or at once; with nothing playing yet, always at once.
  Quantize quantize = Quantize::kBar;
  bool operator==(const EngineConfig&) const = default;
};

// SamplingConfig::key: follow the performer's key (engine/music/KeyFinder.h).
constexpr int kKeyAuto = 12;

struct SamplingConfig {
  double temperature = 1.0;
  int top_k = 0;  // 0 = off
  double top_p = 1.0;
  // The key's tonic as a pitch class 0..11 (C = 0), -1 = no constraint,
  // kKeyAuto = follow the performer's key; written "", C, F#, Bb, ... or "auto".
  // The default follows: with no performer yet it constrains nothing.
  int key = kKeyAuto;
  Scale scale = Scale::kMajor;
  double repetition_penalty = 1.0;
  double density = 1.0;
  double velocity_scale = 1.0;
  int pitch_min = 21;
  int pitch_max = 108;
  std::int64_t seed = 0;  // 0 = random
  // Chord following: nats added to chord tones of the performer's sounding
  // harmony and taken from clashes with their sounding note; above 0 a
  // planned note that would clash with a new performer note also moves off
  // it (LiveEngine::avoid_clashes); 0 = off. 6 with key auto measured best
  // on the valid splits (nextbeat jam; README "Playing along").
  double chord_follow = 6.0;
  bool operator==(const SamplingConfig&) const = default;
};

// Recording the take (/nextbeat/record): a Standard MIDI File with the
// performer and nextbeat on named tracks and the tempo map as played.
struct SessionConfig {
  bool record = false;     // record from start-up
  std::string record_dir;  // absolute; "" = $STATE_DIRECTORY/takes, else ~/.local/state/nextbeat/takes
  bool operator==(const SessionConfig&) const = default;
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  bool operator==(const LogConfig&) const = default;
};

// Control name -> MIDI CC number (0..119). Ordered so that printing is stable.
using CcMap = std::map<std::string, int, std::less<>>;

struct Config {
  ModelConfig model;
  MidiConfig midi;
  OscConfig osc;
  AudioConfig audio;
  ClockConfig clock;
  EngineConfig engine;
  SamplingConfig sampling;
  CcMap cc{{"temperature", 21}, {"density", 22}};
  SessionConfig session;
  LogConfig log;
  bool operator==(const Config&) const = default;
};

// The controls that a MIDI CC may drive (the keys allowed in [cc]).
const std::vector<std::string_view>& cc_controls();

// One problem found in a config file or a command-line override.
struct ConfigIssue {
  std::string source;  // file path, or "-o key=value" for an override
  int line = 0;        // 1-based; 0 when unknown (e.g. the file cannot be read)
  int column = 0;
  std::string key;                // "sampling.temperature"; for a syntax error, the key its line defines, if any
  std::string message;            // what is wrong and what is allowed
  std::string to_string() const;  // "file:line:col: key: message"
};

// Thrown by the loaders (a boundary): carries every issue found, not just the first.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<ConfigIssue> issues);
  const std::vector<ConfigIssue>& issues() const noexcept { return issues_; }

 private:
  std::vector<ConfigIssue> issues_;
};

}  // namespace nextbeat::config
