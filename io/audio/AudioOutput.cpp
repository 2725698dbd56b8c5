#include "io/audio/AudioOutput.h"

#include <RtAudio.h>
#include <fluidsynth.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/live/OutputScheduler.h"
#include "engine/queues/OutputGuard.h"
#include "engine/queues/Retune.h"
#include "engine/queues/SpscQueue.h"
#include "engine/queues/SteadyTime.h"
#include "engine/queues/Timetable.h"
#include "io/DeviceList.h"
#include "io/audio/FluidSynthSetup.h"

namespace nextbeat::io {
namespace {

constexpr const char* kStreamName = "nextbeat-audio";  // the JACK client's name
constexpr int kChannels = 2;                           // stereo, interleaved

bool is_audio_event(engine::OutputKind kind) {
  return kind == engine::OutputKind::kNoteOn || kind == engine::OutputKind::kNoteOff ||
         kind == engine::OutputKind::kProgram || kind == engine::OutputKind::kAllNotesOff ||
         kind == engine::OutputKind::kRetune;
}

// --- Choosing the API and the device ------------------------------------------

RtAudio::Api to_rtaudio(config::AudioApi api) {
  switch (api) {
    case config::AudioApi::kJack:
      return RtAudio::UNIX_JACK;
    case config::AudioApi::kAlsa:
      return RtAudio::LINUX_ALSA;
    case config::AudioApi::kPulse:
      return RtAudio::LINUX_PULSE;
    case config::AudioApi::kAuto:
      break;
  }
  return RtAudio::UNSPECIFIED;
}

bool has_stereo_output(const AudioApiDevices& api) {
  return api.available && std::any_of(api.devices.begin(), api.devices.end(),
                                      [](const AudioDevice& device) { return device.output_channels >= kChannels; });
}

std::string why_not(const AudioApiDevices* api) {
  if (api == nullptr) return "not compiled into RtAudio";
  if (!api->available) return api->error;
  return "no output device with " + std::to_string(kChannels) + " channels";
}

// audio.api resolved with list_audio_devices (which prints nothing and never
// starts JACK). PulseAudio before ALSA: on a desktop, ALSA's default device
// would go through Pulse anyway, and a hw: device would take the card from it.
RtAudio::Api choose_api(config::AudioApi requested) {
  const std::vector<AudioApiDevices> apis = list_audio_devices();
  const auto find = [&](RtAudio::Api api) -> const AudioApiDevices* {
    for (const AudioApiDevices& entry : apis) {
      if (entry.api == RtAudio::getApiName(api)) return &entry;
    }
    return nullptr;
  };
  if (requested != config::AudioApi::kAuto) {
    const RtAudio::Api api = to_rtaudio(requested);
    const AudioApiDevices* entry = find(api);
    if (entry != nullptr && has_stereo_output(*entry)) return api;
    throw std::runtime_error("audio API " + std::string(config::enum_name(requested)) +
                             " (audio.api) cannot be used: " + why_not(entry));
  }
  std::string reasons;
  for (const RtAudio::Api api : {RtAudio::UNIX_JACK, RtAudio::LINUX_PULSE, RtAudio::LINUX_ALSA}) {
    const AudioApiDevices* entry = find(api);
    if (entry != nullptr && has_stereo_output(*entry)) return api;
    reasons += (reasons.empty() ? "" : "; ") + RtAudio::getApiName(api) + ": " + why_not(entry);
  }
  throw std::runtime_error("no audio API: no JACK server running, no PulseAudio server and no ALSA output (" + reasons +
                           ")");
}

struct ChosenDevice {
  unsigned id = 0;
  RtAudio::DeviceInfo info;
};

std::optional<RtAudio::DeviceInfo> device_info(RtAudio& audio, unsigned id) {
  try {
    RtAudio::DeviceInfo info = audio.getDeviceInfo(id);
    if (info.probed) return info;
  } catch (const RtAudioError&) {
    // Vanished since it was counted.
  }
  return std::nullopt;
}

ChosenDevice choose_device(RtAudio& audio, const std::string& wanted) {
  const unsigned count = audio.getDeviceCount();
  if (wanted.empty()) {
    const unsigned preferred = audio.getDefaultOutputDevice();
    if (auto info = device_info(audio, preferred); info && info->outputChannels >= kChannels) {
      return {preferred, *info};
    }
  }
  std::string listing;
  for (unsigned id = 0; id < count; ++id) {
    const std::optional<RtAudio::DeviceInfo> info = device_info(audio, id);
    if (!info || info->outputChannels < kChannels) continue;
    if (info->name.find(wanted) != std::string::npos) return {id, *info};
    listing += (listing.empty() ? "\"" : ", \"") + info->name + "\"";
  }
  throw std::runtime_error("audio device \"" + wanted + "\" (audio.device): no " +
                           RtAudio::getApiName(audio.getCurrentApi()) + " output device with " +
                           std::to_string(kChannels) + " channels has it in its name" +
                           (listing.empty() ? std::string() : "; devices: " + listing));
}

// --- The synth ------------------------------------------------------------------

}  // namespace

struct AudioOutput::Impl {
  static constexpr std::size_t kQueueCapacity = 4096;
  // Events taken from the queue and not yet due. Far more than a beat of
  // notes; when it is full, further events wait in the queue.
  static constexpr std::size_t kPendingCapacity = 1024;

  // called on: the RtAudio thread (JACK's process thread with JACK).
  // real-time safe: no allocation, no locks, no I/O.
  static int callback(void* output, void* /*input*/, unsigned frames, double /*stream_time_s*/,
                      RtAudioStreamStatus status, void* user) {
    auto* self = static_cast<Impl*>(user);
    const std::int64_t block_start_ns = engine::steady_now_ns();
    self->callbacks.fetch_add(1, std::memory_order_relaxed);
    if ((status & RTAUDIO_OUTPUT_UNDERFLOW) != 0) self->xruns.fetch_add(1, std::memory_order_relaxed);
    self->render(static_cast<float*>(output), frames, block_start_ns);
    return 0;  // keep running
  }

  // Moves queued events into `pending`, kept in time order (events of equal
  // time in the order they were emitted: a note-off before a note-on of the
  // same pitch stays before it).
  void take_events() noexcept {
    engine::OutputEvent event;
    while (!pending.full() && queue.pop(event)) {
      if (event.kind == engine::OutputKind::kAllNotesOff) {
        pending.drop_if([](const auto& e) {
          return e.kind == engine::OutputKind::kNoteOn || e.kind == engine::OutputKind::kNoteOff;
        });
        for (int channel = 0; channel < 16; ++channel) fluid_synth_all_notes_off(synth.get(), channel);
        continue;
      }
      if (event.kind == engine::OutputKind::kRetune) {
        if (!engine::retune_pending(pending, event)) {  // it has just sounded: the new pitch from now
          fluid_synth_noteoff(synth.get(), event.channel, event.pitch);
          if (event.to_pitch != engine::kRetuneSilence)
            fluid_synth_noteon(synth.get(), event.channel, event.to_pitch, event.velocity);
        }
        continue;
      }
      pending.insert(event);
    }
  }

  void apply(const engine::OutputEvent& event) noexcept {
    switch (event.kind) {
      case engine::OutputKind::kNoteOn:
        if (event.velocity > 0) {
          fluid_synth_noteon(synth.get(), event.channel, event.pitch, event.velocity);
          break;
        }
        [[fallthrough]];
      case engine::OutputKind::kNoteOff:
        fluid_synth_noteoff(synth.get(), event.channel, event.pitch);
        break;
      case engine::OutputKind::kProgram:
        fluid_synth_program_change(synth.get(), event.channel, event.velocity);
        break;
      default:
        break;
    }
  }

  // Renders frames [from, to) of the interleaved stereo block.
  void write(float* out, std::int64_t from, std::int64_t to) noexcept {
    if (to <= from) return;
    const int first = static_cast<int>(from) * kChannels;
    fluid_synth_write_float(synth.get(), static_cast<int>(to - from), out, first, kChannels, out, first + 1, kChannels);
  }

  // The block starts at `block_start_ns`; an event sounds at frame (time -
  // block start) * rate, and one already late at frame 0. Between events the
  // block is rendered in segments.
  void render(float* out, unsigned frames, std::int64_t block_start_ns) noexcept {
    take_events();
    const std::int64_t block_ns = static_cast<std::int64_t>(frames) * 1'000'000'000 / sample_rate;
    std::int64_t frame = 0;
    std::size_t done = 0;
    for (; done < pending.size(); ++done) {
      const engine::OutputEvent& event = pending[done];
      const std::int64_t delta_ns = event.time_ns - block_start_ns;
      std::int64_t offset = 0;
      if (delta_ns < -engine::OutputScheduler::kStaleNs && event.kind == engine::OutputKind::kNoteOn) {
        // Stale (the process was stopped): skipped, not started late. Its
        // note-off, if it comes, finds nothing sounding.
        late.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (delta_ns < 0) {
        late.fetch_add(1, std::memory_order_relaxed);
      } else if (delta_ns >= block_ns) {
        break;  // a later block's; the rest are later still
      } else {
        offset = std::min<std::int64_t>(delta_ns * sample_rate / 1'000'000'000, frames - 1);
      }
      // FluidSynth starts an event at its next internal block boundary (64
      // frames): stopping half a block early puts it on the boundary nearest
      // its frame, as the offline renderer does.
      const std::int64_t until = std::max(frame, offset - half_block);
      write(out, frame, until);
      frame = until;
      apply(event);
    }
    write(out, frame, frames);
    pending.drop_front(done);
  }

  // A fresh RtAudio on `api` and the device audio.device names. called on: the control thread.
  ChosenDevice new_rtaudio() {
    try {
      audio = std::make_unique<RtAudio>(api);
      // Failures are reported by exceptions, which say the same.
      audio->showWarnings(false);
      return choose_device(*audio, wanted_device);
    } catch (const RtAudioError& e) {
      audio.reset();
      throw std::runtime_error("audio API " + api_name + ": " + e.getMessage());
    }
  }

  void start_stream(const ChosenDevice& device) {
    RtAudio::StreamParameters parameters;
    parameters.deviceId = device.id;
    parameters.nChannels = kChannels;
    parameters.firstChannel = 0;
    RtAudio::StreamOptions options;
    options.flags = RTAUDIO_SCHEDULE_REALTIME;  // ALSA/Pulse threads; JACK's is real-time already
    options.streamName = kStreamName;
    unsigned frames = wanted_frames;
    try {
      audio->openStream(&parameters, nullptr, RTAUDIO_FLOAT32, static_cast<unsigned>(sample_rate), &frames,
                        &Impl::callback, this, &options);
      buffer_frames = frames;
      audio->startStream();
    } catch (const RtAudioError& e) {
      audio.reset();
      throw std::runtime_error("audio output (" + api_name + ", device \"" + device.info.name +
                               "\"): cannot start a stereo stream at " + std::to_string(sample_rate) + " Hz with " +
                               std::to_string(wanted_frames) + "-frame buffers: " + e.getMessage());
    }
  }

  // First: its cache-line-aligned indices would leave padding elsewhere.
  engine::SpscQueue<engine::OutputEvent> queue{kQueueCapacity};
  engine::OutputGuard guard{queue};                                  // the engine thread's side of `queue`
  engine::Timetable<engine::OutputEvent, kPendingCapacity> pending;  // the callback's only
  std::int64_t half_block = 32;                                      // frames; half of FluidSynth's internal block

  std::string api_name;
  RtAudio::Api api = RtAudio::UNSPECIFIED;
  std::string wanted_device;   // audio.device
  unsigned wanted_frames = 0;  // audio.buffer_frames
  std::string device_name;
  std::string soundfont;
  int program = 0;
  int sample_rate = 48000;
  unsigned buffer_frames = 0;

  detail::SettingsPtr settings;
  detail::SynthPtr synth;

  std::atomic<std::uint64_t> callbacks{0};
  std::atomic<std::uint64_t> xruns{0};
  std::atomic<std::uint64_t> late{0};

  // Declared last, so destroyed first: the stream is closed before the
  // synth it renders from is freed.
  std::unique_ptr<RtAudio> audio;
};

AudioOutput::AudioOutput(const config::AudioConfig& config) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.soundfont = config.soundfont;
  m.program = config.program;
  // Checked before any device is opened: the most likely mistake, and the
  // cheapest to report.
  detail::check_soundfont(config.soundfont, "audio.soundfont");

  m.api = choose_api(config.api);
  m.api_name = RtAudio::getApiName(m.api);
  m.wanted_device = config.device;
  m.wanted_frames = static_cast<unsigned>(config.buffer_frames);
  m.sample_rate = config.sample_rate;
  ChosenDevice device = m.new_rtaudio();
  m.device_name = device.info.name;
  // JACK runs at its server's rate and RtAudio does not resample; the synth
  // is built for whatever rate the stream will run at.
  if (m.api == RtAudio::UNIX_JACK && device.info.preferredSampleRate > 0) {
    m.sample_rate = static_cast<int>(device.info.preferredSampleRate);
  }

  // The whole soundfont in memory: with dynamic loading, a program change
  // would read samples from disk on the audio thread.
  m.settings = detail::make_synth_settings(m.sample_rate, config.gain, /*dynamic_sample_loading=*/false);
  m.synth = detail::make_synth(m.settings.get(), config.soundfont, config.program, "audio.soundfont");
  m.half_block = std::max(1, fluid_synth_get_internal_bufsize(m.synth.get())) / 2;
  m.start_stream(device);
}

AudioOutput::~AudioOutput() {
  stop();
}

void AudioOutput::emit(const engine::OutputEvent& event) noexcept {
  if (is_audio_event(event.kind)) impl_->guard.push(event);
}

void AudioOutput::flush() noexcept {
  impl_->guard.flush();
}

void AudioOutput::stop() noexcept {
  RtAudio* audio = impl_->audio.get();
  if (audio == nullptr) return;
  try {
    // abortStream, not stopStream: stopping waits for the callback to drain
    // the output, which never happens if the JACK server has gone away. The
    // caller has already ended the notes.
    if (audio->isStreamRunning()) audio->abortStream();
    if (audio->isStreamOpen()) audio->closeStream();
  } catch (const RtAudioError&) {
    // A stream that cannot be stopped cleanly is stopped anyway: RtAudio
    // has torn it down before reporting.
  }
}

void AudioOutput::suspend() noexcept {
  Impl& m = *impl_;
  if (m.audio == nullptr) return;
  // RtAudio's JACK backend closes the stream on a thread of its own when the
  // server shuts the client down; closing it here at the same time would
  // free it twice.
  for (int i = 0; i < 100 && m.api == RtAudio::UNIX_JACK && m.audio->isStreamOpen(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop();
  m.audio.reset();
}

void AudioOutput::resume() {
  Impl& m = *impl_;
  if (m.audio != nullptr) return;
  // No callback runs now: this thread is the queue's only consumer.
  engine::OutputEvent stale;
  while (m.queue.pop(stale)) {
  }
  m.pending.clear();
  for (int channel = 0; channel < 16; ++channel) {
    fluid_synth_all_notes_off(m.synth.get(), channel);
    fluid_synth_all_sounds_off(m.synth.get(), channel);
  }
  const ChosenDevice device = m.new_rtaudio();
  m.device_name = device.info.name;
  m.start_stream(device);
}

bool AudioOutput::running() const noexcept {
  const RtAudio* audio = impl_->audio.get();
  return audio != nullptr && audio->isStreamRunning();
}

std::string AudioOutput::api_name() const {
  return impl_->api_name;
}
const std::string& AudioOutput::device_name() const noexcept {
  return impl_->device_name;
}
int AudioOutput::sample_rate() const noexcept {
  return impl_->sample_rate;
}
unsigned AudioOutput::buffer_frames() const noexcept {
  return impl_->buffer_frames;
}
std::int64_t AudioOutput::latency_ns() const noexcept {
  const Impl& m = *impl_;
  long frames = 0;
  try {
    if (m.audio && m.audio->isStreamOpen()) frames = m.audio->getStreamLatency();
  } catch (const RtAudioError&) {
    frames = 0;
  }
  if (frames <= 0) frames = static_cast<long>(m.buffer_frames);
  return static_cast<std::int64_t>(frames) * 1'000'000'000 / std::max(m.sample_rate, 1);
}

std::string AudioOutput::describe() const {
  const Impl& m = *impl_;
  const std::string soundfont = std::filesystem::path(m.soundfont).filename().string();
  return "audio out: FluidSynth (" + soundfont + ", program " + std::to_string(m.program) + ") through " + m.api_name +
         " device \"" + m.device_name + "\" at " + std::to_string(m.sample_rate) + " Hz, " +
         std::to_string(m.buffer_frames) + "-frame blocks";
}

std::uint64_t AudioOutput::callbacks() const noexcept {
  return impl_->callbacks.load(std::memory_order_relaxed);
}
std::uint64_t AudioOutput::xruns() const noexcept {
  return impl_->xruns.load(std::memory_order_relaxed);
}
std::uint64_t AudioOutput::late_events() const noexcept {
  return impl_->late.load(std::memory_order_relaxed);
}
std::uint64_t AudioOutput::dropped_events() const noexcept {
  return impl_->guard.dropped();
}

}  // namespace nextbeat::io
