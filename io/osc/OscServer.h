// OSC in (DESIGN.md "OSC namespace", In side): a UDP socket bound to
// osc.bind:osc.port, read by a thread of its own. Messages from the addresses
// in osc.allow become engine::InputEvents in the server's InputHub slot
// (notes, controls, MIDI-learn) or calls into OscRequests (model, status,
// save); everything else is refused, counted, and answered with
// `/nextbeat/error s "<address>: expected ..., got ..."` to
// osc.reply_host:osc.reply_port.
//
// The socket is Boost.Asio's, not liblo's: liblo 0.31 cannot bind a server to
// one address (lo_server_new_multicast_iface with "127.0.0.1" still binds
// 0.0.0.0), and the default config must listen on loopback only. liblo
// decodes the messages (lo_message_deserialise); bundles are walked here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/Config.h"
#include "engine/queues/InputHub.h"
#include "engine/queues/LiveEvent.h"

namespace nextbeat::io {

// What the OSC server cannot turn into an InputEvent: requests that the
// daemon answers on its control thread. Adding one: a value here, a row in
// kRequests (OscServer.cpp: address, argument, what it expects), and a case
// in the daemon's OscRequests::request (daemon/LiveSession.cpp).
enum class OscRequest : std::uint8_t {
  kModel,       // /nextbeat/model s: a path, default:events, default:pianoroll
  kStatus,      // /nextbeat/status
  kSave,        // /nextbeat/save: write the [cc] bindings (MIDI-learn) back to the config file
  kRecord,      // /nextbeat/record [s]: start recording the take (a file name in [session] record_dir; "" or none:
                // timestamped)
  kRecordStop,  // /nextbeat/record/stop: stop recording, close the file
};
inline constexpr std::size_t kOscRequestCount = static_cast<std::size_t>(OscRequest::kRecordStop) + 1;
// "model", "status", "save": the address after /nextbeat/.
std::string_view osc_request_name(OscRequest request);

class OscRequests {
 public:
  virtual ~OscRequests() = default;
  // called on: the OSC thread. Must not block for long (post and return);
  // an exception is caught and the message is refused. `argument` is the
  // string argument of requests that take one, else "".
  virtual void request(OscRequest request, std::string argument) = 0;
};

// What one OSC message asks for.
struct OscCommand {
  enum class Kind : std::uint8_t {
    kInput,    // event: kNoteOn, kNoteOff, kControl or kLearn (port not stamped yet)
    kRequest,  // request, with text as its argument
    kRefused,  // text: "<address>: <what was expected>, got <what>"
  };
  Kind kind = Kind::kRefused;
  engine::InputEvent event{};
  OscRequest request = OscRequest::kStatus;
  std::string text;
};

// Decodes one UDP datagram: an OSC message, or a bundle of messages and
// bundles (nested at most kOscMaxBundleDepth deep). Appends one command per
// message, in packet order; a malformed bundle appends one kRefused for the
// part that cannot be read. Bundle time tags are ignored: every message acts
// on receipt, stamped `time_ns`. Pure (no I/O); allocates.
inline constexpr int kOscMaxBundleDepth = 8;
void decode_osc_packet(std::span<const std::uint8_t> packet, std::int64_t time_ns, std::vector<OscCommand>& out);

struct OscServerCounters {
  std::uint64_t received = 0;    // messages from allowed senders (bundle elements each count), refused ones included
  std::uint64_t refused = 0;     // of those, refused (answered with /nextbeat/error, within the limits below)
  std::uint64_t ignored = 0;     // datagrams from senders not in osc.allow: not read, not answered
  std::uint64_t dropped = 0;     // events lost because the InputHub slot was full
  std::uint64_t unanswered = 0;  // refusals not answered: past 8 a datagram or 20 a second
};

class OscServer {
 public:
  // Claims an InputHub slot, binds osc.bind:osc.port (port 0 picks a free
  // port: see port()) and starts the receive thread. called on: the control
  // thread. Throws std::invalid_argument for an address in osc.bind or
  // osc.allow that is not an IP address, a port outside 0..65535, an empty
  // osc.reply_host or a reply_port outside 1..65535, and std::runtime_error
  // naming the address and port when the bind fails (port in use, address
  // not local) or when no hub slot is free.
  OscServer(const config::OscConfig& config, engine::InputHub& hub, OscRequests& requests);
  // Stops (as stop()) and releases the hub slot.
  ~OscServer();
  OscServer(const OscServer&) = delete;
  OscServer& operator=(const OscServer&) = delete;

  // Closes the socket and joins the receive thread (milliseconds: the thread
  // waits in the Asio reactor, which stop() interrupts). Idempotent.
  // called on: the control thread.
  void stop() noexcept;

  std::uint16_t port() const noexcept;              // the bound port
  std::size_t hub_slot() const noexcept;            // the InputHub slot its events carry as `port`
  const std::string& description() const noexcept;  // "OSC in on 127.0.0.1:9000 (from 127.0.0.1)"
  OscServerCounters counters() const noexcept;      // any thread

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nextbeat::io
