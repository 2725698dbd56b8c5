#include "io/midi/MidiInputs.h"

#include <RtMidi.h>
#include <jack/jack.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

#include "engine/queues/SteadyTime.h"
#include "io/midi/MidiApi.h"
#include "io/midi/MidiMessage.h"
#include "io/midi/RtMidiPorts.h"

namespace nextbeat::io {
namespace {

// Client names. Every one starts with kMidiClientPrefix, so that is_own_port
// keeps nextbeat from following its own ports. JACK makes each name unique
// by appending "-01", "-02"...; ALSA allows duplicates.
constexpr const char* kVirtualClient = "nextbeat";
constexpr const char* kFollowerClient = "nextbeat-in";
constexpr const char* kScannerClient = "nextbeat-scan";
constexpr const char* kGraphClient = "nextbeat-graph";
// Rescans (500 ms apart) that try to follow a port before it is given up on.
constexpr int kFollowTries = 10;

RtMidi::Api to_rtmidi(config::MidiApi api) {
  return api == config::MidiApi::kJack ? RtMidi::UNIX_JACK : RtMidi::LINUX_ALSA;
}

// What an input's callback reads. Heap-allocated so that its address stays
// fixed for as long as the RtMidi client that calls back with it.
struct Listener {
  engine::InputHub* hub = nullptr;
  std::size_t slot = 0;
  std::uint16_t channel_mask = kAllChannels;
  std::atomic<std::uint64_t> ignored{0};
  std::atomic<std::uint64_t> errors{0};
};

// called on: JACK's process thread (JACK API) or RtMidi's input thread
// (ALSA). real-time safe: no allocation, no locks, no I/O (InputHub::push is
// a lock-free enqueue and a futex wake). The steady clock is read first: the
// time the message reached us. With JACK every message of one period arrives
// in the same process call, so timestamps have the period's granularity.
void on_midi(double /*delta_s*/, std::vector<unsigned char>* message, void* user) {
  auto* listener = static_cast<Listener*>(user);
  const std::int64_t now_ns = engine::steady_now_ns();
  engine::InputEvent event;
  if (message != nullptr && parse_midi(*message, now_ns, listener->channel_mask, event)) {
    listener->hub->push(listener->slot, event);
  } else {
    listener->ignored.fetch_add(1, std::memory_order_relaxed);
  }
}

// An input's RtMidi errors (a port that could not be opened, ALSA input
// errors). On ALSA it may run on the input thread, so it only counts; the
// control thread checks the result of each call instead of the text.
void count_error(RtMidiError::Type /*type*/, const std::string& /*text*/, void* user) {
  static_cast<Listener*>(user)->errors.fetch_add(1, std::memory_order_relaxed);
}

using detail::keep_error;
using detail::port_names;

std::optional<unsigned> index_of(RtMidiIn& midi, const std::string& port) {
  const unsigned count = midi.getPortCount();
  for (unsigned i = 0; i < count; ++i) {
    if (midi.getPortName(i) == port) return i;
  }
  return std::nullopt;
}

// Our own port among those that appeared between two listings: the one of a
// nextbeat client whose name holds ":<short_name>" (JACK: at the end; ALSA:
// followed by " client:port").
std::string own_new_port(const std::vector<std::string>& before, const std::vector<std::string>& after,
                         const std::string& short_name) {
  const std::string needle = ":" + short_name;
  for (const std::string& name : after) {
    if (!is_own_port(name) || std::find(before.begin(), before.end(), name) != before.end()) continue;
    const auto at = name.find(needle);
    if (at == std::string::npos) continue;
    const auto end = at + needle.size();
    if (end == name.size() || name[end] == ' ') return name;
  }
  return {};
}

// The name of the port a follower opens for `source`: JACK allows ':' only
// as the client/port separator, and long names are cut to what both APIs
// accept.
std::string follower_port_name(const std::string& source) {
  std::string name = "from " + source;
  std::replace(name.begin(), name.end(), ':', '.');
  constexpr std::size_t kMaxLength = 60;  // ALSA keeps 63 characters; JACK more
  if (name.size() > kMaxLength) name.resize(kMaxLength);
  return name;
}

// JACK only: what RtMidi cannot tell. Whether a connection still exists (a
// port that vanished and came back between two rescans has the same name
// but lost our connection), and whether the server has gone (RtMidi keeps
// listing the ports of a dead server). A plain JACK client with no ports,
// never activated: it costs the server nothing per period.
class JackGraph {
 public:
  // Null when the client cannot be opened; hot-plug then works by port name only.
  static std::unique_ptr<JackGraph> open() {
    jack_client_t* client = jack_client_open(kGraphClient, JackNoStartServer, nullptr);
    if (client == nullptr) return nullptr;
    std::unique_ptr<JackGraph> graph(new JackGraph(client));
    jack_on_shutdown(client, &JackGraph::on_shutdown, graph.get());
    return graph;
  }
  ~JackGraph() { jack_client_close(client_); }
  JackGraph(const JackGraph&) = delete;
  JackGraph& operator=(const JackGraph&) = delete;

  bool server_gone() const noexcept { return gone_.load(std::memory_order_acquire); }

  bool connected(const std::string& source, const std::string& destination) const {
    const jack_port_t* port = jack_port_by_name(client_, source.c_str());
    if (port == nullptr) return false;
    // Unlike jack_port_get_connections, this one may ask about others' ports.
    const char** connections = jack_port_get_all_connections(client_, port);
    bool found = false;
    for (std::size_t i = 0; connections != nullptr && connections[i] != nullptr; ++i) {
      if (destination == connections[i]) found = true;
    }
    jack_free(connections);
    return found;
  }

 private:
  explicit JackGraph(jack_client_t* client) : client_(client) {}
  // called on: libjack's notification thread.
  static void on_shutdown(void* self) { static_cast<JackGraph*>(self)->gone_.store(true, std::memory_order_release); }

  jack_client_t* client_;
  std::atomic<bool> gone_{false};
};

}  // namespace

struct MidiInputs::Impl {
  // One RtMidi client and the hub slot its callback pushes to.
  struct Input {
    std::string source;    // the followed port; "" for the virtual port
    std::string own_port;  // our port's full name; "" when it could not be found
    std::unique_ptr<Listener> listener;
    std::unique_ptr<RtMidiIn> client;
  };

  Impl(const config::MidiConfig& midi, engine::InputHub& input_hub)
      : config(midi), hub(input_hub), channel_mask(channel_mask_of(midi.input_channels)) {}
  ~Impl() {
    for (Input& input : followed) close(input);
    close(virtual_input);
  }

  // Stops the callback (deleting an RtMidi client closes its port and joins
  // or deactivates its thread), and only then frees the hub slot.
  void close(Input& input) noexcept {
    input.client.reset();
    if (input.listener) {
      closed_ignored += input.listener->ignored.load(std::memory_order_relaxed);
      hub.release(input.listener->slot);
      input.listener.reset();
    }
  }

  // An input with a fresh client and a claimed slot; nullopt when every slot
  // is taken. Throws RtMidiError when the client cannot be created.
  std::optional<Input> new_input(const char* client_name, std::string source) {
    const std::optional<std::size_t> slot = hub.claim();
    if (!slot) return std::nullopt;
    Input input;
    input.source = std::move(source);
    input.listener = std::make_unique<Listener>();
    input.listener->hub = &hub;
    input.listener->slot = *slot;
    input.listener->channel_mask = channel_mask;
    try {
      input.client = std::make_unique<RtMidiIn>(to_rtmidi(api), client_name);
      input.client->setErrorCallback(&count_error, input.listener.get());
      input.client->ignoreTypes(/*midiSysex=*/true, /*midiTime=*/false, /*midiSense=*/true);
      input.client->setCallback(&on_midi, input.listener.get());
    } catch (...) {
      close(input);
      throw;
    }
    return input;
  }

  void open_virtual_port() {
    const std::vector<std::string> before = port_names(*sink_lister);
    std::optional<Input> input = new_input(kVirtualClient, "");
    if (!input) throw std::runtime_error("MIDI input: no free InputHub slot for the virtual port");
    virtual_input = std::move(*input);
    virtual_input.client->openVirtualPort(config.virtual_input);
    if (virtual_input.listener->errors.load() != 0) {
      throw std::runtime_error("cannot create the virtual MIDI input port \"" + config.virtual_input + "\" on " +
                               std::string(config::enum_name(api)));
    }
    virtual_input.own_port = own_new_port(before, port_names(*sink_lister), config.virtual_input);
    // Not found (another process changed the graph at the same moment): the
    // name it has unless the client name was taken.
    if (virtual_input.own_port.empty()) virtual_input.own_port = kVirtualClient + (":" + config.virtual_input);
  }

  bool wanted(const std::string& port) const {
    if (is_own_port(port)) return false;
    return std::any_of(config.inputs.begin(), config.inputs.end(), [&](const std::string& pattern) {
      return pattern == "*" || port.find(pattern) != std::string::npos;
    });
  }

  // Connects input.client to input.source; also reconnects an open JACK
  // port (RtMidi's JACK openPort reuses the port and only connects again).
  bool connect(Input& input) {
    const std::optional<unsigned> index = index_of(*input.client, input.source);
    if (!index) return false;  // vanished since the scan
    const bool first = !input.client->isPortOpen();
    const std::string short_name = follower_port_name(input.source);
    const std::vector<std::string> before = first ? port_names(*sink_lister) : std::vector<std::string>{};
    input.client->openPort(*index, short_name);
    if (!input.client->isPortOpen()) return false;
    // RtMidi opens by index and lists the ports again to do so: make sure
    // the index still named the source (a port list that changed in between
    // would have connected another port; closing the client undoes that).
    if (input.client->getPortName(*index) != input.source) return false;
    if (first) input.own_port = own_new_port(before, port_names(*sink_lister), short_name);
    // RtMidi does not check jack_connect's result.
    return !graph || input.own_port.empty() || graph->connected(input.source, input.own_port);
  }

  void follow(const std::string& source, std::vector<std::string>& lines) {
    std::optional<Input> input;
    try {
      input = new_input(kFollowerClient, source);
      if (!input) {
        lines.push_back("MIDI input not followed: " + source + " (all " + std::to_string(engine::InputHub::kSlots) +
                        " input slots are in use)");
        failed.insert(source);
        return;
      }
      if (connect(*input)) {
        lines.push_back("MIDI input connected: " + source);
        followed.push_back(std::move(*input));
        attempts.erase(source);
        return;
      }
    } catch (...) {
      // RtMidiError or allocation: the port is left unfollowed, as below.
    }
    if (input) close(*input);
    // Gone since the scan: the next rescan will not list it. Still there:
    // tried again at the next rescans (a port caught while its program was
    // still setting up, as after a JACK restart, fails once), then said once
    // and not retried every rescan (RtMidi clients are not free to create);
    // it is retried after it vanishes and comes back.
    if (index_of(*scanner, source) && ++attempts[source] >= kFollowTries) {
      attempts.erase(source);
      lines.push_back("MIDI input not followed: " + source + " (RtMidi could not open it)");
      failed.insert(source);
    }
  }

  void scan(std::vector<std::string>& lines) {
    if (graph && graph->server_gone()) {
      if (!server_gone_reported) {
        server_gone_reported = true;
        for (Input& input : followed) {
          lines.push_back("MIDI input lost: " + input.source);
          close(input);
        }
        followed.clear();
        lines.push_back("JACK server stopped: MIDI input lost");
      }
      return;
    }

    std::vector<std::string> sources = port_names(*scanner);
    std::erase_if(sources, [&](const std::string& port) { return !wanted(port); });
    const auto listed = [&](const std::string& port) {
      return std::find(sources.begin(), sources.end(), port) != sources.end();
    };

    // Vanished. Not an error: a keyboard unplugged, a program quit.
    std::erase_if(followed, [&](Input& input) {
      if (listed(input.source)) return false;
      lines.push_back("MIDI input lost: " + input.source);
      close(input);
      return true;
    });
    std::erase_if(failed, [&](const std::string& port) { return !listed(port); });
    std::erase_if(attempts, [&](const auto& entry) { return !listed(entry.first); });

    // Vanished and came back under the same name since the last scan (JACK:
    // a program restarted). The port is listed, but our connection went with
    // the old one.
    if (graph) {
      std::erase_if(followed, [&](Input& input) {
        if (input.own_port.empty() || graph->connected(input.source, input.own_port)) return false;
        lines.push_back("MIDI input lost: " + input.source);
        if (connect(input)) {
          lines.push_back("MIDI input connected: " + input.source);
          return false;
        }
        close(input);
        return true;  // tried once more below, with a new client, as a port that appeared
      });
    }

    // Appeared.
    for (const std::string& source : sources) {
      const bool known =
          std::any_of(followed.begin(), followed.end(), [&](const Input& input) { return input.source == source; });
      if (!known && failed.count(source) == 0) follow(source, lines);
    }
  }

  const config::MidiConfig config;
  engine::InputHub& hub;
  const std::uint16_t channel_mask;
  config::MidiApi api = config::MidiApi::kAuto;
  std::string lister_error;                // the listing clients' last error; outlives them
  std::unique_ptr<RtMidiIn> scanner;       // lists the ports that send; created once (see the constructor)
  std::unique_ptr<RtMidiOut> sink_lister;  // lists the ports that receive: finds our own ports' names
  std::unique_ptr<JackGraph> graph;        // JACK only; may be null
  Input virtual_input;
  std::vector<Input> followed;
  std::set<std::string> failed;            // listed ports that could not be followed: not retried until they vanish
  std::map<std::string, int> attempts;     // failed tries of a port not yet given up (kFollowTries)
  std::vector<std::string> pending_lines;  // from the constructor's scan, for the first rescan()
  std::uint64_t closed_ignored = 0;
  bool server_gone_reported = false;
};

MidiInputs::MidiInputs(const config::MidiConfig& config, engine::InputHub& hub)
    : impl_(std::make_unique<Impl>(config, hub)) {
  Impl& m = *impl_;
  m.api = resolve_midi_api(config.api);  // throws "no MIDI API: ..."
  try {
    // The listing clients are created once and live as long as this object:
    // RtMidi 5.0 leaks 16 KiB per JACK client that fails to connect, so none
    // is created in a loop (and resolve_midi_api has just seen the server).
    m.scanner = std::make_unique<RtMidiIn>(to_rtmidi(m.api), kScannerClient);
    m.scanner->setErrorCallback(&keep_error, &m.lister_error);
    m.sink_lister = std::make_unique<RtMidiOut>(to_rtmidi(m.api), kScannerClient);
    m.sink_lister->setErrorCallback(&keep_error, &m.lister_error);
    if (m.api == config::MidiApi::kJack) m.graph = JackGraph::open();
    m.open_virtual_port();
  } catch (const RtMidiError& e) {
    throw std::runtime_error("MIDI input (" + std::string(config::enum_name(m.api)) + "): " + e.getMessage());
  }
  m.scan(m.pending_lines);
}

MidiInputs::~MidiInputs() = default;

std::vector<std::string> MidiInputs::rescan() noexcept {
  std::vector<std::string> lines;
  try {
    lines.swap(impl_->pending_lines);
    impl_->scan(lines);
  } catch (...) {
    // RtMidi reports through the error callbacks and does not throw once
    // they are set; only allocation is left. The next rescan starts afresh.
  }
  return lines;
}

std::string MidiInputs::api_name() const {
  return std::string(config::enum_name(impl_->api));
}

const std::string& MidiInputs::virtual_port() const noexcept {
  return impl_->virtual_input.own_port;
}

std::string MidiInputs::where_to_connect() const {
  const Impl& m = *impl_;
  const std::string& port = m.virtual_input.own_port;
  std::string text = "MIDI in: connect a MIDI source to \"" + port + "\"";
  if (m.api == config::MidiApi::kJack) {
    text += " (JACK; e.g. jack_connect SOURCE '" + port + "')";
  } else {
    const auto space = port.rfind(' ');  // RtMidi's ALSA names end in " client:port"
    text += " (ALSA; e.g. aconnect SOURCE " + (space == std::string::npos ? port : port.substr(space + 1)) + ")";
  }
  if (m.config.inputs.empty()) return text + "; following no other port (midi.inputs = [])";
  text += "; following ";
  if (std::find(m.config.inputs.begin(), m.config.inputs.end(), "*") != m.config.inputs.end()) {
    text += "every other client's MIDI output";
  } else {
    text += "ports whose name contains";
    for (std::size_t i = 0; i < m.config.inputs.size(); ++i) {
      text += (i == 0 ? " \"" : " or \"") + m.config.inputs[i] + "\"";
    }
  }
  return text + " (" + std::to_string(m.followed.size()) + " now)";
}

std::vector<std::string> MidiInputs::connected_ports() const {
  std::vector<std::string> ports;
  for (const Impl::Input& input : impl_->followed) ports.push_back(input.source);
  return ports;
}

std::size_t MidiInputs::virtual_slot() const noexcept {
  return impl_->virtual_input.listener->slot;
}

std::string MidiInputs::port_of_slot(std::size_t slot) const {
  if (slot == virtual_slot()) return impl_->virtual_input.own_port;
  for (const Impl::Input& input : impl_->followed) {
    if (input.listener->slot == slot) return input.source;
  }
  return {};
}

std::uint64_t MidiInputs::ignored_messages() const noexcept {
  std::uint64_t total = impl_->closed_ignored + impl_->virtual_input.listener->ignored.load(std::memory_order_relaxed);
  for (const Impl::Input& input : impl_->followed) total += input.listener->ignored.load(std::memory_order_relaxed);
  return total;
}

}  // namespace nextbeat::io
