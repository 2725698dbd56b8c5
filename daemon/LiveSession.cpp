#include "daemon/LiveSession.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/BundledModelNames.h"
#include "config/ConfigWriter.h"
#include "config/Controls.h"
#include "daemon/CrashSilencer.h"
#include "daemon/Logging.h"
#include "daemon/OutputFanout.h"
#include "engine/live/LiveEngine.h"
#include "engine/live/OutputScheduler.h"
#include "engine/live/TakeRecorder.h"
#include "engine/model/Model.h"
#include "engine/model/ModelFile.h"
#include "engine/model/Runtime.h"
#include "engine/queues/Handover.h"
#include "engine/queues/InputHub.h"
#include "engine/queues/SpscQueue.h"
#include "engine/queues/SteadyTime.h"
#include "engine/queues/Wakeup.h"
#include "engine/util/AtomicFile.h"
#include "io/audio/AudioOutput.h"
#include "io/link/AbletonLink.h"
#include "io/midi/MidiApi.h"
#include "io/midi/MidiInputs.h"
#include "io/midi/MidiOutput.h"
#include "io/osc/OscSender.h"
#include "io/osc/OscServer.h"

namespace nextbeat::daemon {
namespace {

using engine::LstmModel;
using engine::OutputEvent;
using engine::OutputKind;
using std::chrono::milliseconds;

constexpr auto kPollPeriod = milliseconds(20);     // notifications, hand-backs
constexpr auto kRescanPeriod = milliseconds(500);  // MIDI hot-plug (a port back within 2 s)
constexpr std::int64_t kOutputIdleNs = 100'000'000;
// The engine thread's work between two looks at the clock.
constexpr int kMaxEventsPerTurn = 64;
// An input this old when the engine gets to it (a flood backed the queues up)
// is shed, except what keeps state true: note-offs and the MIDI clock.
constexpr std::int64_t kStaleInputNs = 250'000'000;
// On Link the engine reads the session at least this often: another peer's
// tempo change or start is followed within it, not at the next beat's
// deadline (which a faster tempo would have passed).
constexpr std::int64_t kLinkPollNs = 5'000'000;

// A performer sends tens of events a second, a dense MIDI controller a few
// hundred; each note costs a model step. A flood of thousands would keep the
// engine thread busy until the kernel throttles it (a SCHED_FIFO thread gets
// 95 % of a second) and beats are lost, so past this rate (a token bucket
// on the events' own timestamps) sheddable inputs are shed.
class InputBudget {
 public:
  static constexpr double kPerSecond = 1000;
  static constexpr double kBurst = 250;
  bool take(std::int64_t t_ns) noexcept {
    tokens_ = std::min(kBurst, tokens_ + static_cast<double>(t_ns - last_ns_) * 1e-9 * kPerSecond);
    last_ns_ = std::max(last_ns_, t_ns);
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double tokens_ = kBurst;
  std::int64_t last_ns_ = 0;
};

bool sheddable(const engine::InputEvent& event) {
  using engine::InputKind;
  switch (event.kind) {
    case InputKind::kNoteOn:
    case InputKind::kControlChange:
    case InputKind::kControl:
      return true;
    default:
      return false;
  }
}

// Real-time priority for the engine and output threads when the system
// allows it (systemd unit: LimitRTPRIO; JACK users: the audio group); else
// they run at normal priority, which the start-up log says.
bool try_realtime(std::thread& thread, int priority) {
  sched_param param{};
  param.sched_priority = priority;
  return pthread_setschedparam(thread.native_handle(), SCHED_FIFO, &param) == 0;
}

}  // namespace

struct LiveSession::Impl final : io::OscRequests {
  Impl(const config::Config& c, std::optional<std::filesystem::path> path, boost::asio::io_context& context)
      : config(c),
        config_path(std::move(path)),
        io(context),
        poll_timer(context),
        rescan_timer(context),
        reconnect_timer(context) {}

  // ---- OSC requests (OSC thread): posted to the control thread ----
  // A flood of requests costs one each: a request of a kind that is already
  // waiting joins it (a model request replaces the waiting name: the latest
  // wins), and a model request while a model loads is refused. Before, each
  // /nextbeat/model queued a whole load: 100 in one bundle took 1 GB and 32 s.
  void request(io::OscRequest what, std::string argument) override {
    const std::lock_guard lock(request_mutex);
    if (what == io::OscRequest::kModel) {
      if (model_loading)
        throw std::runtime_error("a model is loading (" + model_loading_name +
                                 "); send the request again once /nextbeat/model has answered");
      model_request = std::move(argument);
    }
    if (what == io::OscRequest::kRecord) record_request = std::move(argument);  // the latest wins
    bool& pending = request_pending[static_cast<std::size_t>(what)];
    if (pending) return;
    pending = true;
    boost::asio::post(io, [this, what] { serve(what); });
  }
  // called on: the control thread.
  void serve(io::OscRequest what) {
    std::string name;
    {
      const std::lock_guard lock(request_mutex);
      request_pending[static_cast<std::size_t>(what)] = false;
      if (what == io::OscRequest::kModel) {
        name = std::move(model_request);
        model_loading = true;
        model_loading_name = name;
      }
      if (what == io::OscRequest::kRecord) name = std::move(record_request);
    }
    switch (what) {
      case io::OscRequest::kModel:
        if (const auto refusal = refuse_model_path(name)) {
          spdlog::warn("/nextbeat/model {}: {}", printable(name), *refusal);
          if (reply) reply->error("/nextbeat/model: " + printable(name) + ": " + *refusal);
        } else {
          swap_model(name, config.model);
        }
        break;
      case io::OscRequest::kStatus:
        send_status();
        break;
      case io::OscRequest::kSave:
        save_cc();
        break;
      case io::OscRequest::kRecord:
        start_recording(name);
        break;
      case io::OscRequest::kRecordStop:
        if (!take_writer) {
          if (reply) reply->error("/nextbeat/record/stop: not recording");
        } else {
          stop_recording();
        }
        break;
    }
    const std::lock_guard lock(request_mutex);
    if (what == io::OscRequest::kModel) model_loading = false;
  }

  void start();
  void engine_loop();
  void output_loop();
  void poll();
  void feed_watchdog();
  void rescan();
  // MIDI in / MIDI out / audio opened (again); false, logged, when it cannot be.
  bool open_midi_in(bool quiet);
  bool open_midi_out(bool quiet);
  // The JACK server went away, or came back (poll() and reconnect_timer).
  void watch_jack();
  void reconnect();
  // Takes MIDI out away from the output thread and frees it.
  void detach_midi_out();
  // Loads `name` with the device and precision of `settings` and hands it to
  // the engine; false (logged, and answered on OSC) when it is refused.
  bool swap_model(const std::string& name, const config::ModelConfig& settings);
  // Why a model path from OSC is refused, if it is.
  std::optional<std::string> refuse_model_path(const std::string& name) const;
  void send_status();
  void save_cc();
  // The take ([session], /nextbeat/record): starts a writer on a file name in
  // record_dir ("" = timestamped); false, logged and answered, when refused.
  bool start_recording(const std::string& name);
  void stop_recording();
  std::filesystem::path record_dir() const;
  // A quantised change's echo: the value, the clock beat it took effect on and its bar (from 0).
  std::vector<io::OscArg> applied_args(std::string value, std::int64_t beat) const {
    const std::int64_t per_bar = std::max(1, config.clock.beats_per_bar);
    const std::int64_t bar = beat >= 0 ? beat / per_bar : -1;
    return {std::move(value), static_cast<std::int32_t>(beat), static_cast<std::int32_t>(bar)};
  }
  // The config as the engine gets it: on Link, the audio stream's latency is
  // added to clock.link_latency_ms (both are heard that much late).
  config::Config engine_settings(const config::Config& c) const;
  // Logs a change in the number of Link peers.
  void watch_link();
  void stop();

  config::Config config;
  std::optional<std::filesystem::path> config_path;
  boost::asio::io_context& io;
  boost::asio::steady_timer poll_timer;
  boost::asio::steady_timer rescan_timer;
  boost::asio::steady_timer reconnect_timer;

  engine::SteadyClock clock;
  engine::InputHub hub;
  // [clock] source = "link": the session, joined at start (declared before
  // the engine, which calls it, so that it outlives it). peers: the count
  // last logged.
  std::unique_ptr<io::AbletonLink> link;
  std::size_t link_peers = 0;
  std::unique_ptr<engine::LiveEngine> engine;
  // Control thread <-> engine thread: new models and settings in, the
  // replaced ones back (freed on the control thread).
  engine::Handover<engine::ModelSwap> model_handover{4};
  engine::Handover<config::LiveSettings> settings_handover{4};
  std::unique_ptr<engine::ModelSwap> replaced_model;  // engine thread: on its way back (model_handover)
  // Engine thread -> output thread.
  engine::SpscQueue<OutputEvent> to_output{8192};
  engine::Wakeup output_wake;

  std::unique_ptr<io::MidiInputs> midi_in;
  std::unique_ptr<io::MidiOutput> midi_out;
  std::unique_ptr<io::OscServer> osc_in;
  std::unique_ptr<io::OscNoteOutput> osc_out;  // used by the output thread only
  std::unique_ptr<io::OscSender> reply;        // used by the control thread only
  std::unique_ptr<io::AudioOutput> audio;
  std::unique_ptr<EngineOutputs> engine_outputs;

  std::thread engine_thread;
  std::thread output_thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> output_stopping{false};
  // MIDI out as the output thread sees it: midi_out, or nullptr while there
  // is none (the JACK server went away). Set by the control thread; the
  // output thread counts its loop turns so that the control thread knows
  // when an old MIDI out is no longer in use (detach_midi_out).
  std::atomic<engine::OutputSink*> midi_out_slot{nullptr};
  std::atomic<std::uint64_t> output_turns{0};
  // The JACK server under MIDI and audio: watched from poll(), and when it
  // goes, the devices on it are closed and opened again, by reconnect() with
  // a backoff, once a server of the same name answers. The engine plays on
  // meanwhile (beats and notes still go to OSC).
  std::unique_ptr<io::JackServerWatch> jack_watch;  // null: nothing on JACK, or the server is gone
  config::MidiConfig midi_config;                   // config.midi with the API it resolved to
  bool jack_down = false;
  bool want_midi_in = false, want_midi_out = false, want_audio = false;  // what was open on JACK
  milliseconds reconnect_delay{0};
  std::uint32_t jack_reconnects = 0;  // status: "jack_reconnects"
  std::string jack_devices;           // "MIDI in, MIDI out, audio": what was open on the server that went
  std::atomic<std::int64_t> max_lateness_ns{0};
  std::atomic<std::uint64_t> output_stale{0};  // events skipped as stale by the output thread (status: "stale")
  // OSC requests waiting for the control thread (request() and serve()).
  std::mutex request_mutex;
  std::array<bool, io::kOscRequestCount> request_pending{};  // by io::OscRequest
  std::string model_request;                                 // the latest /nextbeat/model name while one waits
  bool model_loading = false;
  std::string model_loading_name;
  std::string record_request;  // the latest /nextbeat/record name while one waits
  // The take: the tap is fed by the engine thread (performer notes) and the
  // output thread (what it plays); the writer thread exists while recording.
  engine::TakeTap take_tap;
  std::unique_ptr<engine::TakeWriter> take_writer;  // control thread
  std::string record_error;                         // the writer's last failure, as logged
  // The engine thread counts its loop turns (at least one per 50 ms); the
  // control thread pings systemd's watchdog only while the count moves.
  std::atomic<std::uint64_t> engine_heartbeat{0};
  std::atomic<std::uint64_t> shed{0};  // inputs dropped by the engine thread as stale (status: "shed")
  std::uint64_t watchdog_usec = 0;     // 0: no watchdog (WatchdogSec= unset)
  std::uint64_t heartbeat_at_ping = 0;
  std::int64_t last_ping_ns = 0;
  bool engine_stalled = false;
  std::int64_t stall_after_ns = -1;         // fault injection for the watchdog test, see start()
  std::int64_t crash_after_ns = -1;         // fault injection for the crash test, see start()
  const crash::AltStack control_alt_stack;  // the control thread's (this object lives on it)
  bool stopped = false;
  bool clock_fallback = false;  // the MIDI clock went silent mid-song (status: "clock")
  std::string model_name;
};

void LiveSession::Impl::start() {
  engine::set_inference_threads(config.model.threads);
  model_name = config.model.path;
  auto [model, inference] = engine::load_live_model(model_name, config.model);
  spdlog::info("model {}: {} codec, {} x {} LSTM, {} parameters; {}", model_name,
               engine::codec_name(model->spec().codec.kind), model->spec().layers, model->spec().hidden,
               model->parameter_count(), inference);

  // Devices. Each one that cannot open is logged and left out: a performer
  // with OSC alone, or MIDI without audio, still gets a running daemon.
  midi_config = config.midi;
  if (open_midi_in(false)) {
    // From now on the API the inputs found: after the JACK server went away,
    // nextbeat waits for it to come back rather than move to ALSA.
    midi_config.api = midi_in->api_name() == "jack" ? config::MidiApi::kJack : config::MidiApi::kAlsa;
    open_midi_out(false);
  }
  if (config.osc.enabled) {
    try {
      osc_in = std::make_unique<io::OscServer>(config.osc, hub, *this);
      osc_out = std::make_unique<io::OscNoteOutput>(config.osc.reply_host, config.osc.reply_port);
      reply = std::make_unique<io::OscSender>(config.osc.reply_host, config.osc.reply_port);
      spdlog::info("{}; replies and notes to {}", osc_in->description(), reply->target());
    } catch (const std::exception& e) {
      spdlog::warn("OSC: {}; running without OSC", e.what());
      osc_in.reset();
    }
  }
  if (config.audio.enabled) {
    try {
      audio = std::make_unique<io::AudioOutput>(config.audio);
      spdlog::info("{}", audio->describe());
    } catch (const std::exception& e) {
      spdlog::warn("audio: {}; running without audio", e.what());
    }
  }
  const bool midi_on_jack = midi_config.api == config::MidiApi::kJack && midi_in;
  const bool audio_on_jack = audio && audio->api_name() == "jack";
  if (midi_on_jack || audio_on_jack) jack_watch = io::JackServerWatch::open();
  if (!midi_in && !osc_in) spdlog::warn("no input is open: nextbeat can hear nothing (see the messages above)");

  if (const char* stall = std::getenv("NEXTBEAT_FAULT_STALL_ENGINE_MS")) {
    stall_after_ns = std::atoll(stall) * 1'000'000;
    spdlog::warn("fault injection: the engine thread stalls {} ms after start", std::atoll(stall));
  }
  if (const char* crash = std::getenv("NEXTBEAT_FAULT_CRASH_ENGINE_MS")) {
    crash_after_ns = std::atoll(crash) * 1'000'000;
    spdlog::warn("fault injection: the engine thread overflows its stack {} ms after start", std::atoll(crash));
  }
  if (config.clock.source == config::ClockSource::kLink) {
    try {
      link = std::make_unique<io::AbletonLink>(config.clock.tempo_bpm, config.clock.beats_per_bar,
                                               config.clock.link_start_stop);
      spdlog::info(
          "Ableton Link: joined (quantum {} beats, start/stop sync {}); events play {:.1f} ms early for the output "
          "latency",
          config.clock.beats_per_bar, config.clock.link_start_stop ? "on" : "off",
          engine_settings(config).clock.link_latency_ms);
    } catch (const std::exception& e) {
      spdlog::warn("Ableton Link: {}; playing on the internal clock", e.what());
    }
  }
  crash::install(output_wake);
  engine_outputs = std::make_unique<EngineOutputs>(to_output, output_wake, audio.get());
  engine = std::make_unique<engine::LiveEngine>(std::move(model), engine_settings(config), *engine_outputs, clock,
                                                link.get());
  output_thread = std::thread([this] { output_loop(); });
  engine_thread = std::thread([this] { engine_loop(); });
  const bool rt = try_realtime(engine_thread, 70) && try_realtime(output_thread, 75);
  if (!rt) spdlog::info("real-time priority not permitted (SCHED_FIFO); the engine runs at normal priority");

  // systemd's watchdog (WatchdogSec= in the unit): pinged from poll().
  if (sd_watchdog_enabled(0, &watchdog_usec) <= 0) watchdog_usec = 0;
  if (watchdog_usec > 0) spdlog::info("systemd watchdog: {} ms", watchdog_usec / 1000);
  last_ping_ns = engine::steady_now_ns();
  poll_timer.expires_after(kPollPeriod);
  poll_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll();
  });
  if (config.session.record) start_recording("");
  if (midi_in) {
    rescan_timer.expires_after(kRescanPeriod);
    rescan_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) rescan();
    });
  }
}

bool LiveSession::Impl::open_midi_in(bool quiet) {
  try {
    midi_in = std::make_unique<io::MidiInputs>(midi_config, hub);
    spdlog::info("{}", midi_in->where_to_connect());
    for (const auto& line : midi_in->rescan()) spdlog::info("{}", line);
    return true;
  } catch (const std::exception& e) {
    if (!quiet) spdlog::warn("MIDI in: {}; running without MIDI input", e.what());
    return false;
  }
}

bool LiveSession::Impl::open_midi_out(bool quiet) {
  try {
    midi_out = std::make_unique<io::MidiOutput>(midi_config);
    // Notes left on by a previous run that did not end cleanly (a crash,
    // SIGKILL, the watchdog), or by a synth that lost its server with
    // nextbeat's notes on, end before nextbeat plays its first note.
    midi_out->all_notes_off_everywhere();
    spdlog::info("{}", midi_out->where_to_connect());
    midi_out_slot.store(midi_out.get(), std::memory_order_release);
    return true;
  } catch (const std::exception& e) {
    if (!quiet) spdlog::warn("MIDI out: {}; running without MIDI output", e.what());
    return false;
  }
}

void LiveSession::Impl::detach_midi_out() {
  if (!midi_out) return;
  midi_out_slot.store(nullptr, std::memory_order_release);
  // Two turns of the output thread: the one that may have read the old
  // pointer has ended. Each turn is at most kOutputIdleNs once woken.
  const std::uint64_t turns = output_turns.load(std::memory_order_acquire);
  for (int i = 0; i < 500 && output_turns.load(std::memory_order_acquire) < turns + 2; ++i) {
    output_wake.signal();
    std::this_thread::sleep_for(milliseconds(2));
  }
  if (output_turns.load(std::memory_order_acquire) < turns + 2) {
    // The output thread is stuck in RtMidi (a full ring buffer spins): the
    // old object cannot be freed safely, so it is left behind.
    spdlog::error("MIDI out: the output thread did not let go of the old port; leaving it open");
    (void)midi_out.release();
    return;
  }
  // Closing a JACK port of a dead server waits up to a second in RtMidi.
  midi_out.reset();
}

void LiveSession::Impl::watch_jack() {
  if (jack_down || !jack_watch || !jack_watch->gone()) return;
  jack_down = true;
  want_midi_in = midi_config.api == config::MidiApi::kJack && midi_in != nullptr;
  want_midi_out = want_midi_in && midi_out != nullptr;
  want_audio = audio && audio->api_name() == "jack";
  jack_devices.clear();
  for (const auto& [wanted, name] :
       {std::pair{want_midi_in, "MIDI in"}, {want_midi_out, "MIDI out"}, {want_audio, "audio"}})
    if (wanted) jack_devices += (jack_devices.empty() ? "" : ", ") + std::string(name);
  spdlog::warn(
      "JACK server stopped: {} off, the beat goes on (OSC); nextbeat reconnects by itself once a JACK server of the "
      "same name runs again (start jackd, or check why it stopped)",
      jack_devices);
  detach_midi_out();
  midi_in.reset();
  // Keys the performer held went with the server, and their note-offs with
  // them: released here, or continue mode would wait for them for ever. (A
  // note-off of a key not held is ignored by the engine.)
  for (int pitch = 0; pitch < 128; ++pitch) {
    hub.push(engine::InputHub::kControlSlot, engine::InputEvent{.time_ns = engine::steady_now_ns(),
                                                                .kind = engine::InputKind::kNoteOff,
                                                                .a = static_cast<std::int16_t>(pitch)});
  }
  if (want_audio) audio->suspend();
  jack_watch.reset();
  reconnect_delay = milliseconds(250);
  reconnect_timer.expires_after(reconnect_delay);
  reconnect_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) reconnect();
  });
}

// Tries every reconnect_delay (doubling up to 2 s) until every device that
// was open on JACK is open again. Quiet while no server answers: the stop
// was logged once.
void LiveSession::Impl::reconnect() {
  if (stopped) return;
  if (!jack_watch) jack_watch = io::JackServerWatch::open();
  if (jack_watch && !jack_watch->gone()) {
    if (want_midi_in && !midi_in && open_midi_in(true)) want_midi_in = false;
    if (want_midi_out && midi_in && !midi_out && open_midi_out(true)) want_midi_out = false;
    if (want_audio) {
      try {
        audio->resume();
        spdlog::info("{}", audio->describe());
        want_audio = false;
      } catch (const std::exception& e) {
        spdlog::debug("audio: {}", e.what());
      }
    }
    if (!want_midi_in && !want_midi_out && !want_audio) {
      jack_down = false;
      ++jack_reconnects;
      spdlog::info("JACK server back: {} reconnected", jack_devices);
      return;
    }
  } else {
    jack_watch.reset();
  }
  reconnect_delay = std::min(milliseconds(2000), reconnect_delay * 2);
  reconnect_timer.expires_after(reconnect_delay);
  reconnect_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) reconnect();
  });
}

// The engine thread: owns the engine, its model and all LibTorch calls.
void LiveSession::Impl::engine_loop() {
  // OpenMP's thread count is per thread: set on this one, or LibTorch's
  // intra-op work here runs on as many threads as cores, which made a step
  // ~10x slower on 2 cores (measured: 1.7 ms per event instead of ~0.2 ms).
  engine::set_inference_threads(config.model.threads);
  const crash::AltStack alt_stack;
  engine::InputEvent event;
  InputBudget input_budget;
  const std::int64_t started = engine::steady_now_ns();
  while (!stopping.load(std::memory_order_acquire)) {
    if (stall_after_ns >= 0 && engine::steady_now_ns() - started > stall_after_ns) {
      // NEXTBEAT_FAULT_STALL_ENGINE_MS: the engine wedges (until stop), as a bug would.
      std::this_thread::sleep_for(milliseconds(10));
      continue;
    }
    if (crash_after_ns >= 0 && engine::steady_now_ns() - started > crash_after_ns) crash::overflow_stack();
    engine_heartbeat.fetch_add(1, std::memory_order_relaxed);
    // Beats first: inputs are handled until the engine's next deadline is
    // due (at most kMaxEventsPerTurn), then time moves on. Before, the loop
    // emptied the queues first, and a flood of OSC starved the beat.
    int handled = 0;
    while (handled < kMaxEventsPerTurn && engine::steady_now_ns() < engine->next_wakeup_ns() && hub.pop(event)) {
      ++handled;
      if (sheddable(event) &&
          (engine::steady_now_ns() - event.time_ns > kStaleInputNs || !input_budget.take(event.time_ns))) {
        shed.fetch_add(1, std::memory_order_relaxed);  // too late or too many to matter; counted in status
        continue;
      }
      engine->handle(event);
      take_tap.performer(event);  // notes only, while recording; never blocks
    }
    model_handover.receive(
        [this](std::unique_ptr<engine::ModelSwap> swap) { return engine->swap_model(std::move(swap)); });
    // A swap that waited for the bar line: its old parts go back now.
    if (!replaced_model) replaced_model = engine->take_replaced_model();
    if (replaced_model) (void)model_handover.give_back(replaced_model);
    settings_handover.receive(
        [this](std::unique_ptr<config::LiveSettings> s) { return engine->reconfigure(std::move(s)); });
    engine_outputs->flush();  // note-offs a full queue could not take go out first
    engine->advance();
    // Owed note-offs: back within a millisecond, when the output thread has made room.
    std::int64_t wake = engine_outputs->owes() ? std::min(engine->next_wakeup_ns(), engine::steady_now_ns() + 1'000'000)
                                               : engine->next_wakeup_ns();
    if (link) wake = std::min(wake, engine::steady_now_ns() + kLinkPollNs);
    if (handled < kMaxEventsPerTurn && engine::steady_now_ns() < wake) hub.wait_until(wake);
  }
  engine->stop();  // every own note ends; the output thread sends the note-offs
  output_wake.signal();
  // If the queue was full, the all-notes-off is owed: the output thread is
  // still draining, so it goes out within a few milliseconds (bounded: the
  // output thread's own exit sweep ends every note regardless).
  for (int i = 0; i < 200 && engine_outputs->owes(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    engine_outputs->flush();
  }
}

// The output thread: plays each event at its time on MIDI and OSC.
void LiveSession::Impl::output_loop() {
  OutputFanout fanout;
  fanout.add(&midi_out_slot);
  fanout.add(osc_out.get());
  fanout.add(&take_tap);  // nextbeat's notes and the beats as played, while recording
  engine::OutputScheduler scheduler(fanout);
  const crash::AltStack alt_stack;
  crash::mark_output_thread();
  OutputEvent event;
  for (;;) {
    if (crash::requested()) {
      // Another thread took a fatal signal and waits for this: end every
      // note now, on every output, as the exit below does.
      scheduler.release_all(engine::steady_now_ns());
      if (midi_out_slot.load(std::memory_order_acquire) != nullptr) midi_out->all_notes_off_everywhere();
      crash::silenced();
      for (;;) output_wake.wait_until(engine::steady_now_ns() + kOutputIdleNs);  // the process is dying
    }
    output_turns.fetch_add(1, std::memory_order_acq_rel);
    const std::int64_t t = engine::steady_now_ns();
    while (to_output.pop(event)) scheduler.add(event, t);
    scheduler.play_due(engine::steady_now_ns());
    max_lateness_ns.store(scheduler.max_lateness_ns(), std::memory_order_relaxed);
    output_stale.store(scheduler.stale(), std::memory_order_relaxed);
    if (output_stopping.load(std::memory_order_acquire)) break;
    output_wake.wait_until(std::min(scheduler.next_due(), engine::steady_now_ns() + kOutputIdleNs));
  }
  // Exit: what the engine sent last (its all-notes-off), then every note
  // still sounding ends, on every output.
  while (to_output.pop(event)) scheduler.add(event, engine::steady_now_ns());
  scheduler.release_all(engine::steady_now_ns());
  if (midi_out_slot.load(std::memory_order_acquire) != nullptr) midi_out->all_notes_off_everywhere();
}

config::Config LiveSession::Impl::engine_settings(const config::Config& c) const {
  config::Config out = c;
  if (c.clock.source == config::ClockSource::kLink && audio)
    out.clock.link_latency_ms += static_cast<double>(audio->latency_ns()) / 1e6;
  return out;
}

void LiveSession::Impl::watch_link() {
  if (!link) return;
  const std::size_t peers = link->peers();
  if (peers == link_peers) return;
  link_peers = peers;
  spdlog::info("Ableton Link: {} other peer{} in the session", peers, peers == 1 ? "" : "s");
}

void LiveSession::Impl::poll() {
  feed_watchdog();
  watch_jack();
  watch_link();
  engine::Notification n;
  while (engine->pop_notification(n)) {
    if (n.kind == engine::Notification::Kind::kClockSource) {
      clock_fallback = n.value == 0;
      if (clock_fallback) {
        spdlog::warn(
            "MIDI clock: no clock for {} ms mid-song; playing on at the internal clock from where it was (check the "
            "clock source); the next MIDI clock, start or continue is followed again",
            engine::BeatClock::kMidiLostNs / 1'000'000);
      } else {
        spdlog::info("MIDI clock: the clock is back; following it again");
      }
      if (reply) reply->send("/nextbeat/clock", {std::string(clock_fallback ? "internal" : "midi")});
      continue;
    }
    if (n.kind == engine::Notification::Kind::kKeyDetected) {
      // sampling.key = "auto": the performer's key changed (the config keeps
      // "auto"). DESIGN.md: `/nextbeat/key s` when the followed key changes.
      const std::string key =
          std::string(engine::key_name(static_cast<int>(n.value))) + (n.minor ? " minor" : " major");
      spdlog::info("key: following the performer in {}", key);
      if (reply) reply->send("/nextbeat/key", {key});
      continue;
    }
    if (n.kind == engine::Notification::Kind::kModelApplied) {
      // The swap took effect (on a bar line while playing, engine.quantize).
      if (reply) reply->send("/nextbeat/model/applied", applied_args(model_name, n.beat));
      spdlog::info("model {} in force from beat {}", printable(model_name), n.beat);
      continue;
    }
    const auto& spec = config::control_spec(n.control);
    if (n.kind == engine::Notification::Kind::kLearned) {
      config.cc[std::string(spec.name)] = n.cc;
      std::erase_if(config.cc, [&](const auto& e) { return e.second == n.cc && e.first != spec.name; });
      spdlog::info("MIDI-learn: CC {} now moves {} (/nextbeat/save writes it to the config file)", n.cc, spec.name);
      if (reply) reply->send("/nextbeat/learn", {std::string(spec.name), static_cast<std::int32_t>(n.cc)});
      continue;
    }
    if (spec.config_key.empty() || spec.type == config::ControlType::kAction) {
      if (reply) reply->send("/nextbeat/" + std::string(spec.name), {static_cast<float>(n.value)});
    } else {
      config::apply_control(config, n.control, n.value);
      if (reply) {
        if (spec.type == config::ControlType::kChoice) {
          reply->send("/nextbeat/" + std::string(spec.name), {config::format_control_value(spec, n.value)});
        } else {
          reply->send("/nextbeat/" + std::string(spec.name), {static_cast<float>(n.value)});
        }
      }
    }
    // Mode, key and scale: when it took effect (the bar line, or at once).
    if (n.beat >= 0 && reply)
      reply->send("/nextbeat/" + std::string(spec.name) + "/applied",
                  applied_args(config::format_control_value(spec, n.value), n.beat));
    spdlog::debug("control {} = {}", spec.name, config::format_control_value(spec, n.value));
  }
  model_handover.collect();
  settings_handover.collect();
  if (take_writer) {
    // A flush that failed (disk full, directory gone) is said once; the writer keeps trying.
    std::string error = take_writer->error();
    if (!error.empty() && error != record_error) {
      spdlog::error("recording: {}; the take so far is in {} as of the last flush that worked", error,
                    take_writer->path().string());
      if (reply) reply->error("/nextbeat/record: " + error);
    }
    record_error = std::move(error);
  }
  if (stopped) return;
  poll_timer.expires_after(kPollPeriod);
  poll_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll();
  });
}

void LiveSession::Impl::feed_watchdog() {
  if (watchdog_usec == 0) return;
  const std::int64_t now = engine::steady_now_ns();
  const auto interval_ns = static_cast<std::int64_t>(watchdog_usec) * 1000 / 2;
  if (now - last_ping_ns < interval_ns) return;
  const std::uint64_t beat = engine_heartbeat.load(std::memory_order_relaxed);
  if (beat == heartbeat_at_ping) {
    if (!engine_stalled)
      spdlog::error("the engine thread has not moved for {} ms; no watchdog ping: systemd will restart nextbeat",
                    (now - last_ping_ns) / 1'000'000);
    engine_stalled = true;
    return;
  }
  engine_stalled = false;
  heartbeat_at_ping = beat;
  last_ping_ns = now;
  sd_notify(0, "WATCHDOG=1");
}

void LiveSession::Impl::rescan() {
  if (midi_in) {
    for (const auto& line : midi_in->rescan()) spdlog::info("{}", line);
  }
  if (stopped) return;
  rescan_timer.expires_after(kRescanPeriod);
  rescan_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) rescan();
  });
}

// A model path from OSC (any local user can send one) loads only from
// default: or under [model] dirs. Decided on the path's text and its
// symlinks, before the file is opened, with the same answer whether it
// exists or not: the reply is no oracle for other users' files.
std::optional<std::string> LiveSession::Impl::refuse_model_path(const std::string& name) const {
  if (name.starts_with("default:")) return std::nullopt;
  namespace fs = std::filesystem;
  const std::string allowed =
      "models load over OSC from default: and the directories in [model] dirs only (" +
      (config.model.dirs.empty() ? std::string("none set") : "now " + std::to_string(config.model.dirs.size()) + ")") +
      (config.model.dirs.empty() ? ")" : "");
  const fs::path path(name);
  if (!path.is_absolute()) return "expected an absolute path or " + config::bundled_model_list() + "; " + allowed;
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(path, ec);
  if (ec) return allowed;
  for (const auto& dir : config.model.dirs) {
    const fs::path base = fs::weakly_canonical(fs::path(dir), ec);
    if (ec) continue;
    const auto [b, r] = std::mismatch(base.begin(), base.end(), real.begin(), real.end());
    if (b == base.end() && r != real.end()) return std::nullopt;
  }
  return allowed;
}

bool LiveSession::Impl::swap_model(const std::string& name, const config::ModelConfig& settings) {
  try {
    auto [model, inference] = engine::load_live_model(name, settings);
    auto swap = engine::prepare_model_swap(std::move(model));
    if (!model_handover.send(swap)) {
      spdlog::error("model {}: a previous swap is still in flight; try again", printable(name));
      return false;
    }
    hub.wake();
    model_name = name;
    config.model = settings;
    config.model.path = name;
    spdlog::info("model swapped to {}; {}", printable(name), inference);
    if (reply) reply->send("/nextbeat/model", {name});
    return true;
  } catch (const std::exception& e) {
    spdlog::error("model {}: {}; keeping the current model", printable(name), printable(e.what(), 400));
    if (reply) reply->error("/nextbeat/model: " + printable(e.what(), 400));
    return false;
  }
}

void LiveSession::Impl::send_status() {
  if (!reply) return;
  const auto& s = engine->stats();
  const auto osc = osc_in ? osc_in->counters() : io::OscServerCounters{};
  std::vector<io::OscArg> args{
      std::string("mode"),
      std::string(config::enum_name(config.engine.mode)),
      std::string("model"),
      model_name,
      std::string("tempo"),
      static_cast<float>(config.clock.tempo_bpm),
      std::string("playing"),
      static_cast<std::int32_t>(engine->playing() ? 1 : 0),
      std::string("beats"),
      static_cast<std::int32_t>(s.beats.load()),
      std::string("predictions"),
      static_cast<std::int32_t>(s.predictions.load()),
      std::string("misses"),
      static_cast<std::int32_t>(s.misses.load()),
      std::string("notes_in"),
      static_cast<std::int32_t>(s.notes_in.load()),
      std::string("notes_out"),
      static_cast<std::int32_t>(s.notes_out.load()),
      std::string("dropped"),
      static_cast<std::int32_t>(hub.dropped() + engine_outputs->dropped()),
      std::string("shed"),
      static_cast<std::int32_t>(shed.load()),
      std::string("osc_refused"),
      static_cast<std::int32_t>(osc.refused),
      std::string("step_p50_us"),
      static_cast<float>(engine::percentile_us(s.step_ns.recent(), 0.5)),
      std::string("step_p99_us"),
      static_cast<float>(engine::percentile_us(s.step_ns.recent(), 0.99)),
      std::string("step_compute_p50_us"),
      static_cast<float>(engine::percentile_us(s.step_compute_ns.recent(), 0.5)),
      std::string("step_compute_p99_us"),
      static_cast<float>(engine::percentile_us(s.step_compute_ns.recent(), 0.99)),
      std::string("rollout_p50_us"),
      static_cast<float>(engine::percentile_us(s.rollout_ns.recent(), 0.5)),
      std::string("rollout_p99_us"),
      static_cast<float>(engine::percentile_us(s.rollout_ns.recent(), 0.99)),
      std::string("output_late_max_us"),
      static_cast<float>(static_cast<double>(max_lateness_ns.load()) / 1000.0),
      // "midi" (following the MIDI clock), "link" (an Ableton Link session)
      // or "internal" (its own, or fallen back).
      std::string("clock"),
      std::string(config.clock.source == config::ClockSource::kMidi ? (clock_fallback ? "internal" : "midi")
                  : link                                            ? "link"
                                                                    : "internal"),
      // Other peers in the Link session (0 off Link).
      std::string("link_peers"),
      static_cast<std::int32_t>(link ? link->peers() : 0),
      std::string("stale"),
      static_cast<std::int32_t>(output_stale.load()),
      // The devices now: 1 open (audio: its stream running), 0 not; "jack":
      // "up", "down" (gone, reconnecting) or "none" (nothing on JACK).
      std::string("midi_in"),
      static_cast<std::int32_t>(midi_in ? 1 : 0),
      std::string("midi_out"),
      static_cast<std::int32_t>(midi_out ? 1 : 0),
      std::string("audio"),
      static_cast<std::int32_t>(audio && audio->running() ? 1 : 0),
      std::string("audio_blocks"),
      static_cast<std::int32_t>(audio ? audio->callbacks() : 0),
      std::string("jack"),
      std::string(jack_down ? "down" : (jack_watch ? "up" : "none")),
      std::string("jack_reconnects"),
      static_cast<std::int32_t>(jack_reconnects),
      // The take: 1 while recording; events the tap lost to a full queue.
      std::string("recording"),
      static_cast<std::int32_t>(take_writer ? 1 : 0),
      std::string("record_dropped"),
      static_cast<std::int32_t>(take_tap.dropped()),
  };
  reply->send("/nextbeat/status", args);
  spdlog::debug("status sent to {}", reply->target());
}

void LiveSession::Impl::save_cc() {
  if (!config_path) {
    spdlog::warn("/nextbeat/save: running on the built-in defaults, no config file to write to (start with --config)");
    if (reply) reply->error("/nextbeat/save: no config file (nextbeat run was started without --config)");
    return;
  }
  try {
    config::save_cc_bindings(*config_path, config.cc);
    spdlog::info("/nextbeat/save: [cc] written to {}", config_path->string());
    if (reply) reply->send("/nextbeat/save", {config_path->string()});
  } catch (const std::exception& e) {
    spdlog::error("/nextbeat/save: {}", e.what());
    if (reply) reply->error("/nextbeat/save: " + std::string(e.what()));
  }
}

std::filesystem::path LiveSession::Impl::record_dir() const {
  if (!config.session.record_dir.empty()) return config.session.record_dir;
  // systemd's StateDirectory= (the unit sets it), else the XDG state directory.
  if (const char* state = std::getenv("STATE_DIRECTORY"); state != nullptr && *state != '\0') {
    const std::string first(state, std::strcspn(state, ":"));
    return std::filesystem::path(first) / "takes";
  }
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && xdg[0] == '/')
    return std::filesystem::path(xdg) / "nextbeat" / "takes";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr && *home != '\0' ? home : "/tmp") / ".local" / "state" / "nextbeat" /
         "takes";
}

bool LiveSession::Impl::start_recording(const std::string& name) {
  auto refuse = [&](const std::string& why) {
    spdlog::warn("record {}: {}", printable(name), why);
    if (reply) reply->error("/nextbeat/record: " + (name.empty() ? std::string() : printable(name) + ": ") + why);
    return false;
  };
  if (take_writer)
    return refuse("already recording to " + take_writer->path().string() + "; send /nextbeat/record/stop first");
  // A name from OSC (any local user can send one) stays inside record_dir:
  // no directories, no hidden files, nothing written over.
  if (name.find('/') != std::string::npos || name.starts_with('.') || name.size() > 200 ||
      std::any_of(name.begin(), name.end(), [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; }))
    return refuse("expected a plain file name (no '/', not starting with '.', at most 200 characters); takes go to " +
                  record_dir().string());
  namespace fs = std::filesystem;
  const fs::path dir = record_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return refuse("cannot create the directory " + dir.string() + ": " + ec.message());
  fs::path path;
  if (name.empty()) {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "take-%Y%m%d-%H%M%S", &local);
    path = dir / (std::string(stamp) + ".mid");
    for (int i = 2; fs::exists(path, ec) && i < 100; ++i)
      path = dir / (std::string(stamp) + "-" + std::to_string(i) + ".mid");
  } else {
    const bool has_extension = name.ends_with(".mid") || name.ends_with(".midi");
    path = dir / (has_extension ? name : name + ".mid");
  }
  if (fs::exists(fs::symlink_status(path, ec))) return refuse(path.string() + " exists; choose another name");
  try {
    take_writer =
        std::make_unique<engine::TakeWriter>(path, take_tap, config.clock.tempo_bpm, config.clock.beats_per_bar);
  } catch (const std::exception& e) {
    return refuse(e.what());
  }
  spdlog::info("recording the take to {}", path.string());
  if (reply) reply->send("/nextbeat/record", {path.string()});
  return true;
}

void LiveSession::Impl::stop_recording() {
  if (!take_writer) return;
  const auto summary = take_writer->stop();
  const std::string path = take_writer->path().string();
  take_writer.reset();
  const std::size_t notes = summary.performer_notes + summary.nextbeat_notes;
  if (!summary.error.empty()) {
    spdlog::error("recording: the last write failed: {}", summary.error);
    if (reply) reply->error("/nextbeat/record/stop: " + summary.error);
  }
  spdlog::info("recording stopped: {} ({} notes: {} performer, {} nextbeat; {} events dropped)", path, notes,
               summary.performer_notes, summary.nextbeat_notes, take_tap.dropped());
  if (reply)
    reply->send("/nextbeat/record/stop",
                {path, static_cast<std::int32_t>(notes), static_cast<std::int32_t>(summary.performer_notes),
                 static_cast<std::int32_t>(summary.nextbeat_notes)});
}

void LiveSession::Impl::stop() {
  if (stopped) return;
  stopped = true;
  crash::uninstall();
  poll_timer.cancel();
  rescan_timer.cancel();
  reconnect_timer.cancel();
  // Inputs first (nothing new comes in), then the engine ends its notes,
  // then the output thread sends every note-off and all-notes-off.
  if (osc_in) osc_in->stop();
  midi_in.reset();
  stopping.store(true, std::memory_order_release);
  hub.wake();
  if (engine_thread.joinable()) engine_thread.join();
  output_stopping.store(true, std::memory_order_release);
  output_wake.signal();
  if (output_thread.joinable()) output_thread.join();
  // The output thread's last note-offs are in the tap: the take ends here.
  stop_recording();
  if (audio) {
    audio->emit(OutputEvent{.time_ns = engine::steady_now_ns(), .kind = OutputKind::kAllNotesOff});
    audio->stop();
  }
  const auto& s = engine->stats();
  spdlog::info("stopped: {} beats, {} predicted, {} missed, {} notes in, {} notes out", s.beats.load(),
               s.predictions.load(), s.misses.load(), s.notes_in.load(), s.notes_out.load());
  model_handover.clear();
  settings_handover.clear();
}

LiveSession::LiveSession(const config::Config& config, std::optional<std::filesystem::path> config_path,
                         boost::asio::io_context& io)
    : impl_(std::make_unique<Impl>(config, std::move(config_path), io)) {
  impl_->start();
}

LiveSession::~LiveSession() {
  stop();
}

void LiveSession::stop() {
  impl_->stop();
}

bool LiveSession::reload(const config::Config& config) {
  const config::Config old = impl_->config;
  // A new device or precision needs the model prepared again: a swap. A
  // model that does not load refuses the whole new config (nothing of it is
  // applied), as a config that does not parse does.
  const bool model_changed = config.model.path != old.model.path || config.model.device != old.model.device ||
                             config.model.precision != old.model.precision;
  if (model_changed && !impl_->swap_model(config.model.path, config.model)) return false;
  if (config.midi != old.midi || config.osc != old.osc || config.audio != old.audio)
    spdlog::warn("SIGHUP: [midi], [osc] and [audio] changes take effect when nextbeat is restarted");
  if ((config.clock.source == config::ClockSource::kLink) != (impl_->link != nullptr))
    spdlog::warn("SIGHUP: clock.source = \"link\" is joined or left when nextbeat is restarted{}",
                 impl_->link ? "; the engine leaves the session's clock now" : "; the internal clock plays until then");
  auto snapshot = std::make_unique<config::LiveSettings>(config::live_settings(impl_->engine_settings(config)));
  if (!impl_->settings_handover.send(snapshot)) {
    spdlog::error("SIGHUP: a previous reload is still in flight; try again");
    return false;
  }
  impl_->hub.wake();
  // The model settings are swap_model's to set, once the new model is in.
  const config::ModelConfig model = impl_->config.model;
  impl_->config = config;
  impl_->config.model = model;
  return true;
}

std::string LiveSession::status_line() const {
  const auto& s = impl_->engine->stats();
  return "playing " + std::string(config::enum_name(impl_->config.engine.mode)) + " on " + impl_->model_name + ", " +
         std::to_string(s.predictions.load()) + " beats predicted, " + std::to_string(s.misses.load()) + " missed";
}

}  // namespace nextbeat::daemon
