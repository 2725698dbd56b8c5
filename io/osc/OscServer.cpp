#include "io/osc/OscServer.h"

#include <pthread.h>

#include <lo/lo.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include "config/Controls.h"
#include "config/NumberText.h"
#include "engine/queues/SteadyTime.h"
#include "io/osc/OscSender.h"

namespace nextbeat::io {
namespace {

namespace asio = boost::asio;
using Kind = OscCommand::Kind;

constexpr std::string_view kPrefix = "/nextbeat/";
// An error's address, and the whole error, are cut to these many characters:
// a datagram may hold a 64 KiB address or string, and the reply must fit one.
constexpr std::size_t kMaxEchoedAddress = 120;
constexpr std::size_t kMaxErrorText = 1000;
// At most this many /nextbeat/error replies answer one datagram (a bundle of
// thousands of bad messages is counted in full, answered in part).
constexpr int kMaxRepliesPerDatagram = 8;
// /nextbeat/error replies a second at most, whatever comes in: a flood of bad
// messages must not become a flood of replies (the refusals are still counted).
constexpr int kMaxErrorRepliesPerSecond = 20;

OscCommand refusal(std::string_view address, const std::string& what) {
  OscCommand command;
  command.kind = Kind::kRefused;
  command.text = address.size() > kMaxEchoedAddress ? std::string(address.substr(0, kMaxEchoedAddress)) + "..."
                                                    : std::string(address);
  command.text += ": ";
  command.text += what;
  if (command.text.size() > kMaxErrorText) command.text.replace(kMaxErrorText - 3, std::string::npos, "...");
  return command;
}

OscCommand input(const engine::InputEvent& event) {
  OscCommand command;
  command.kind = Kind::kInput;
  command.event = event;
  return command;
}

std::string_view type_name(char type) {
  switch (type) {
    case 'i':
      return "an int32";
    case 'f':
      return "a float";
    case 'd':
      return "a double";
    case 'h':
      return "an int64";
    case 's':
      return "a string";
    case 'S':
      return "a symbol";
    case 'T':
      return "true";
    case 'F':
      return "false";
    case 'N':
      return "nil";
    case 'I':
      return "infinitum";
    case 'b':
      return "a blob";
    case 'c':
      return "a char";
    case 'm':
      return "a MIDI message";
    case 't':
      return "a time tag";
    default:
      return "an argument of unknown type";
  }
}

// "no argument", "a string (s)", "3 arguments (,iis)": what a message carried.
std::string describe_args(std::string_view types) {
  if (types.empty()) return "no argument";
  if (types.size() == 1) return std::string(type_name(types[0])) + " (" + types[0] + ")";
  return std::to_string(types.size()) + " arguments (," + std::string(types) + ")";
}

// One decoded OSC message; argv as lo_message_get_argv gives it. liblo's
// argv points into the message's data, 4-byte aligned (OSC pads to 4), and
// lo_arg is a union with 8-byte members: reading a member through the
// pointer is a misaligned access (UBSan, found by tests/fuzz/OscDecodeFuzz),
// so values are copied out byte-wise.
struct Message {
  std::string_view path;
  std::string_view types;
  lo_arg** argv = nullptr;

  template <class T>
  T value(std::size_t i) const {
    T v;
    std::memcpy(&v, argv[i], sizeof v);
    return v;
  }
  std::optional<double> number(std::size_t i) const {
    switch (types[i]) {
      case 'i':
        return value<std::int32_t>(i);
      case 'f':
        return value<float>(i);
      case 'd':
        return value<double>(i);
      case 'h':
        return static_cast<double>(value<std::int64_t>(i));
      case 'T':
        return 1.0;
      case 'F':
        return 0.0;
      default:
        return std::nullopt;
    }
  }
  bool is_text(std::size_t i) const { return types[i] == 's' || types[i] == 'S'; }
  std::string_view text(std::size_t i) const { return reinterpret_cast<const char*>(argv[i]); }
};

// /nextbeat/note pitch velocity [channel]: numbers (Pd's oscformat sends
// int32s, Max often floats), whole, in range.
OscCommand decode_note(const Message& m, std::int64_t time_ns) {
  const bool numbers =
      (m.types.size() == 2 || m.types.size() == 3) && m.types.find_first_not_of("ifdh") == std::string_view::npos;
  if (!numbers)
    return refusal(m.path, "expected 2 or 3 numbers (pitch 0..127, velocity 0..127, channel 1..16), got " +
                               describe_args(m.types));
  struct Field {
    std::string_view name;
    int min, max;
  };
  static constexpr std::array<Field, 3> kFields{{{"pitch", 0, 127}, {"velocity", 0, 127}, {"channel", 1, 16}}};
  std::array<int, 3> values{0, 0, 1};
  for (std::size_t i = 0; i < m.types.size(); ++i) {
    const double x = *m.number(i);
    const Field& field = kFields[i];
    if (!std::isfinite(x) || x != std::floor(x) || x < field.min || x > field.max)
      return refusal(m.path, "expected an integer " + std::string(field.name) + " in " + std::to_string(field.min) +
                                 ".." + std::to_string(field.max) + ", got " + config::number_text(x));
    values[i] = static_cast<int>(x);
  }
  engine::InputEvent event;
  event.time_ns = time_ns;
  event.kind = values[1] == 0 ? engine::InputKind::kNoteOff : engine::InputKind::kNoteOn;
  event.a = static_cast<std::int16_t>(values[0]);
  event.b = static_cast<std::int16_t>(values[1]);
  event.channel = static_cast<std::uint8_t>(values[2] - 1);
  return input(event);
}

// What a control accepts; actions say it in OSC's terms.
std::string expected_value(const config::ControlSpec& spec) {
  if (spec.type == config::ControlType::kAction) return "no argument or one number";
  return config::control_range_text(spec);
}

// /nextbeat/<control>: one number (i f d h T F) or, for choices, a name (s S);
// actions also take no argument.
OscCommand decode_control(const config::ControlSpec& spec, const Message& m, std::int64_t time_ns) {
  const bool action = spec.type == config::ControlType::kAction;
  config::ControlValue parsed;
  if (action && m.types.empty()) {
    parsed = config::parse_control_number(spec, 1.0);
  } else if (m.types.size() == 1 && m.number(0)) {
    parsed = config::parse_control_number(spec, *m.number(0));
  } else if (m.types.size() == 1 && m.is_text(0) && !action) {
    parsed = config::parse_control_text(spec, m.text(0));
  } else {
    return refusal(m.path, "expected " + expected_value(spec) + ", got " + describe_args(m.types));
  }
  if (!parsed.value) return refusal(m.path, parsed.error);
  engine::InputEvent event;
  event.time_ns = time_ns;
  event.kind = engine::InputKind::kControl;
  event.control = static_cast<std::uint8_t>(spec.id);
  event.value = *parsed.value;
  return input(event);
}

// The requests, one row each: address, whether it takes a string, what it expects.
// A request whose text is optional takes one string (empty allowed) or none.
struct RequestSpec {
  OscRequest request;
  std::string_view name;
  bool takes_text;
  std::string_view expected;
  bool text_optional = false;
};
constexpr std::array<RequestSpec, kOscRequestCount> kRequests{{
    {OscRequest::kModel, "model", true, "a model (s): a file path, default:events or default:pianoroll"},
    {OscRequest::kStatus, "status", false, "no argument"},
    {OscRequest::kSave, "save", false, "no argument"},
    {OscRequest::kRecord, "record", true, "a file name (s), or \"\" or no argument for a timestamped one", true},
    {OscRequest::kRecordStop, "record/stop", false, "no argument"},
}};

std::string request_names() {
  std::string names;
  for (const auto& spec : kRequests) names += std::string(spec.name) + ", ";
  return names.substr(0, names.size() - 2);
}

const std::string& control_names() {
  static const std::string kNames = [] {
    std::string names;
    for (const auto& spec : config::control_specs()) {
      if (!names.empty()) names += ", ";
      names += spec.name;
    }
    return names;
  }();
  return kNames;
}

OscCommand decode_message(const Message& m, std::int64_t time_ns) {
  const std::string_view name = m.path.starts_with(kPrefix) ? m.path.substr(kPrefix.size()) : std::string_view{};
  const bool one_text = m.types.size() == 1 && m.is_text(0);
  if (name == "note") return decode_note(m, time_ns);
  if (name == "learn") {
    if (!one_text) return refusal(m.path, "expected a control name (s), got " + describe_args(m.types));
    const config::ControlSpec* spec = config::find_control(m.text(0));
    if (spec == nullptr)
      return refusal(m.path,
                     "expected a control name (" + control_names() + "), got \"" + std::string(m.text(0)) + "\"");
    engine::InputEvent event;
    event.time_ns = time_ns;
    event.kind = engine::InputKind::kLearn;
    event.control = static_cast<std::uint8_t>(spec->id);
    return input(event);
  }
  for (const auto& spec : kRequests) {
    if (name != spec.name) continue;
    const bool ok = spec.text_optional ? m.types.empty() || one_text
                    : spec.takes_text  ? one_text && !m.text(0).empty()
                                       : m.types.empty();
    if (!ok)
      return refusal(m.path,
                     "expected " + std::string(spec.expected) + ", got " +
                         (spec.takes_text && one_text ? std::string("an empty string") : describe_args(m.types)));
    OscCommand command;
    command.kind = Kind::kRequest;
    command.request = spec.request;
    if (spec.takes_text && one_text) command.text = m.text(0);
    return command;
  }
  if (const config::ControlSpec* spec = config::find_control(name); spec != nullptr && !name.empty())
    return decode_control(*spec, m, time_ns);
  return refusal(m.path, "unknown address, expected /nextbeat/ and one of note, learn, " + request_names() +
                             " or a control (" + control_names() + ")");
}

std::string malformed_reason(int result) {
  switch (result) {
    case LO_ESIZE:
      return "its size does not match its type tags and arguments";
    case LO_EINVALIDPATH:
      return "the address is not a 0-terminated, 4-byte padded string";
    case LO_ENOTYPE:
      return "it has no type tag string";
    case LO_EINVALIDTYPE:
      return "the type tag string is not a 0-terminated, 4-byte padded string";
    case LO_EBADTYPE:
      return "the type tag string does not start with ','";
    case LO_EINVALIDARG:
      return "an argument does not match its type tag";
    case LO_EALLOC:
      return "out of memory";
    default:
      return "liblo error " + std::to_string(result);
  }
}

struct MessageFree {
  void operator()(void* message) const noexcept { lo_message_free(message); }
};

void decode_one_message(std::span<const std::uint8_t> data, std::int64_t time_ns, std::vector<OscCommand>& out) {
  // liblo takes void* but only reads: lo_message_deserialise copies the
  // arguments into the message it returns.
  if (data.empty()) {
    out.push_back(refusal("(unreadable address)", "malformed OSC message: the datagram is empty"));
    return;
  }
  void* raw = const_cast<std::uint8_t*>(data.data());
  const auto size = static_cast<ssize_t>(data.size());
  int result = 0;
  const std::unique_ptr<void, MessageFree> message(lo_message_deserialise(raw, data.size(), &result));
  const char* path = lo_get_path(raw, size);
  if (message == nullptr) {
    out.push_back(
        refusal(path != nullptr ? path : "(unreadable address)", "malformed OSC message: " + malformed_reason(result)));
    return;
  }
  const Message m{path != nullptr ? path : "", lo_message_get_types(message.get()), lo_message_get_argv(message.get())};
  out.push_back(decode_message(m, time_ns));
}

std::uint32_t big_endian_u32(std::span<const std::uint8_t> data, std::size_t at) {
  return static_cast<std::uint32_t>(data[at]) << 24 | static_cast<std::uint32_t>(data[at + 1]) << 16 |
         static_cast<std::uint32_t>(data[at + 2]) << 8 | data[at + 3];
}

// An OSC bundle: "#bundle\0", an 8-byte time tag, then elements, each a
// big-endian int32 size (a multiple of 4) and that many bytes of a message
// or a bundle.
void decode_element(std::span<const std::uint8_t> data, int depth, std::int64_t time_ns, std::vector<OscCommand>& out) {
  static constexpr std::array<char, 8> kBundleTag{'#', 'b', 'u', 'n', 'd', 'l', 'e', '\0'};
  if (data.size() < kBundleTag.size() || std::memcmp(data.data(), kBundleTag.data(), kBundleTag.size()) != 0) {
    decode_one_message(data, time_ns, out);
    return;
  }
  if (depth >= kOscMaxBundleDepth) {
    out.push_back(refusal(
        "#bundle", "expected bundles nested at most " + std::to_string(kOscMaxBundleDepth) + " deep, got deeper"));
    return;
  }
  constexpr std::size_t kHeader = 16;  // tag and time tag
  if (data.size() < kHeader) {
    out.push_back(refusal("#bundle", "malformed bundle: expected a time tag after #bundle, got " +
                                         std::to_string(data.size()) + " bytes in all"));
    return;
  }
  for (std::size_t at = kHeader; at < data.size();) {
    const std::size_t left = data.size() - at;
    const std::uint32_t element = left >= 4 ? big_endian_u32(data, at) : 0;
    if (left < 4 || element == 0 || element % 4 != 0 || element > left - 4) {
      out.push_back(refusal("#bundle", "malformed bundle: expected an element size (a multiple of 4, at most " +
                                           std::to_string(left >= 4 ? left - 4 : 0) + ") at byte " +
                                           std::to_string(at) + ", got " +
                                           (left < 4 ? std::to_string(left) + " bytes" : std::to_string(element))));
      return;
    }
    decode_element(data.subspan(at + 4, element), depth + 1, time_ns, out);
    at += 4 + element;
  }
}

asio::ip::address parse_address(const std::string& text, const char* key) {
  boost::system::error_code error;
  asio::ip::address address = asio::ip::make_address(text, error);
  if (error) throw std::invalid_argument(std::string(key) + ": expected an IP address, got \"" + text + "\"");
  return address;
}

// IPv4-mapped IPv6 (::ffff:127.0.0.1, what a dual-stack socket reports for an
// IPv4 sender) compares as the IPv4 address.
asio::ip::address unmapped(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  return address;
}

std::string endpoint_text(const asio::ip::address& address, std::uint16_t port) {
  const std::string host = address.to_string();
  return (address.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

std::string_view osc_request_name(OscRequest request) {
  for (const auto& spec : kRequests)
    if (spec.request == request) return spec.name;
  return "?";
}

void decode_osc_packet(std::span<const std::uint8_t> packet, std::int64_t time_ns, std::vector<OscCommand>& out) {
  decode_element(packet, 0, time_ns, out);
}

struct OscServer::Impl {
  Impl(const config::OscConfig& config, engine::InputHub& hub_, OscRequests& requests_)
      : hub(hub_), requests(requests_), replies(config.reply_host, config.reply_port) {
    const asio::ip::address bind = parse_address(config.bind, "osc.bind");
    for (const std::string& text : config.allow) allow.push_back(unmapped(parse_address(text, "osc.allow")));
    if (config.port < 0 || config.port > 65535)
      throw std::invalid_argument("osc.port: expected a port in 1..65535, got " + std::to_string(config.port));
    const asio::ip::udp::endpoint endpoint(bind, static_cast<std::uint16_t>(config.port));
    boost::system::error_code error;
    socket.open(endpoint.protocol(), error);
    // On "::", accept IPv4 senders too (they arrive IPv4-mapped).
    if (!error && bind.is_v6() && bind.is_unspecified()) socket.set_option(asio::ip::v6_only(false), error);
    if (!error) socket.bind(endpoint, error);
    if (error)
      throw std::runtime_error("OSC: cannot listen on " + endpoint_text(bind, endpoint.port()) +
                               " (osc.bind, osc.port): " + error.message());
    port = socket.local_endpoint().port();
    description = "OSC in on " + endpoint_text(bind, port) + " (from ";
    for (std::size_t i = 0; i < config.allow.size(); ++i) description += (i > 0 ? ", " : "") + config.allow[i];
    description += config.allow.empty() ? "nowhere: osc.allow is empty)" : ")";
  }

  // called on: the OSC thread (Asio handlers run inside io.run()).
  void receive() {
    socket.async_receive_from(asio::buffer(buffer), sender,
                              [this](const boost::system::error_code& error, std::size_t size) {
                                if (error == asio::error::operation_aborted || error == asio::error::bad_descriptor)
                                  return;
                                if (!error) {
                                  try {
                                    handle_datagram(size);
                                  } catch (...) {  // std::bad_alloc: the datagram is lost, the server goes on
                                    refused.fetch_add(1, std::memory_order_relaxed);
                                  }
                                }
                                receive();  // after handling: Asio may read the next datagram into `buffer` at once
                              });
  }

  void handle_datagram(std::size_t size) {
    const std::int64_t now_ns = engine::steady_now_ns();
    const asio::ip::address from = unmapped(sender.address());
    if (std::find(allow.begin(), allow.end(), from) == allow.end()) {
      ignored.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    int replies_left = kMaxRepliesPerDatagram;
    if (now_ns - error_window_ns >= 1'000'000'000) {
      error_window_ns = now_ns;
      errors_in_window = 0;
    }
    const auto refuse = [&](const std::string& text) {
      refused.fetch_add(1, std::memory_order_relaxed);
      if (replies_left-- > 0 && errors_in_window++ < kMaxErrorRepliesPerSecond) {
        replies.error(text);
      } else {
        unanswered.fetch_add(1, std::memory_order_relaxed);
      }
    };
    try {
      commands.clear();
      decode_osc_packet(std::span<const std::uint8_t>(buffer.data(), size), now_ns, commands);
    } catch (const std::exception& e) {  // std::bad_alloc
      received.fetch_add(1, std::memory_order_relaxed);
      refuse(std::string("(datagram): not read: ") + e.what());
      return;
    }
    for (OscCommand& command : commands) {
      received.fetch_add(1, std::memory_order_relaxed);
      try {
        switch (command.kind) {
          case Kind::kInput:
            if (!hub.push(slot, command.event)) dropped.fetch_add(1, std::memory_order_relaxed);
            break;
          case Kind::kRequest:
            requests.request(command.request, std::move(command.text));
            break;
          case Kind::kRefused:
            refuse(command.text);
            break;
        }
      } catch (const std::exception& e) {  // from OscRequests
        refuse("/nextbeat/" + std::string(osc_request_name(command.request)) + ": failed: " + e.what());
      } catch (...) {
        refuse("/nextbeat/: failed: unknown exception");
      }
    }
  }

  engine::InputHub& hub;
  OscRequests& requests;
  std::size_t slot = 0;
  std::vector<asio::ip::address> allow;
  std::string description;
  std::uint16_t port = 0;

  asio::io_context io{1};
  asio::ip::udp::socket socket{io};
  asio::ip::udp::endpoint sender;
  std::array<std::uint8_t, 65536> buffer{};  // the largest UDP payload fits
  std::vector<OscCommand> commands;
  OscSender replies;  // used only on the OSC thread
  std::thread thread;

  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> ignored{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> unanswered{0};
  std::int64_t error_window_ns = 0;  // OSC thread only: the current second of error replies
  int errors_in_window = 0;
};

OscServer::OscServer(const config::OscConfig& config, engine::InputHub& hub, OscRequests& requests)
    : impl_(std::make_unique<Impl>(config, hub, requests)) {
  const std::optional<std::size_t> slot = hub.claim();
  if (!slot)
    throw std::runtime_error("OSC: every one of the " + std::to_string(engine::InputHub::kSlots) +
                             " input slots is taken");
  impl_->slot = *slot;
  try {
    impl_->receive();
    impl_->thread = std::thread([impl = impl_.get()] {
      pthread_setname_np(pthread_self(), "nextbeat-osc");  // top -H, gdb
      // A handler that throws (std::bad_alloc) leaves run(); the next run()
      // goes on with the receive that is still pending.
      for (;;) {
        try {
          impl->io.run();
          return;
        } catch (...) {
          impl->refused.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  } catch (...) {
    hub.release(*slot);
    throw;
  }
}

OscServer::~OscServer() {
  stop();
  impl_->hub.release(impl_->slot);
}

void OscServer::stop() noexcept {
  if (!impl_->thread.joinable()) return;
  impl_->io.stop();  // run() returns at once, in the middle of waiting for a datagram
  impl_->thread.join();
  boost::system::error_code ignored;
  impl_->socket.close(ignored);
}

std::uint16_t OscServer::port() const noexcept {
  return impl_->port;
}

std::size_t OscServer::hub_slot() const noexcept {
  return impl_->slot;
}

const std::string& OscServer::description() const noexcept {
  return impl_->description;
}

OscServerCounters OscServer::counters() const noexcept {
  return {impl_->received.load(std::memory_order_relaxed), impl_->refused.load(std::memory_order_relaxed),
          impl_->ignored.load(std::memory_order_relaxed), impl_->dropped.load(std::memory_order_relaxed),
          impl_->unanswered.load(std::memory_order_relaxed)};
}

}  // namespace nextbeat::io
