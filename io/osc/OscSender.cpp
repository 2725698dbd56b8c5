#include "io/osc/OscSender.h"

#include <lo/lo.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <stdexcept>
#include <type_traits>

namespace nextbeat::io {
namespace {

struct MessageFree {
  void operator()(void* message) const noexcept { lo_message_free(message); }
};
using MessagePtr = std::unique_ptr<void, MessageFree>;

// False when liblo could not add the argument (out of memory).
bool add_arg(lo_message message, const OscArg& arg) {
  return std::visit(
      [message](const auto& value) {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::int32_t>) {
          return lo_message_add_int32(message, value) == 0;
        } else if constexpr (std::is_same_v<T, float>) {
          return lo_message_add_float(message, value) == 0;
        } else {
          return lo_message_add_string(message, value.c_str()) == 0;
        }
      },
      arg);
}

}  // namespace

OscSender::OscSender(const std::string& host, int port) {
  if (host.empty()) throw std::invalid_argument("OSC out: the host is empty");
  if (port < 1 || port > 65535)
    throw std::invalid_argument("OSC out: expected a port in 1..65535, got " + std::to_string(port));
  target_ = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  address_ = lo_address_new(host.c_str(), std::to_string(port).c_str());
  if (address_ == nullptr) throw std::runtime_error("OSC out: liblo cannot make an address for " + target_);
}

OscSender::~OscSender() {
  lo_address_free(address_);
}

bool OscSender::send(std::string_view path, std::span<const OscArg> args) noexcept {
  bool ok = false;
  try {
    const MessagePtr message(lo_message_new());
    ok = message != nullptr;
    for (const OscArg& arg : args) ok = ok && add_arg(message.get(), arg);
    // lo_send_message returns the bytes sent, or -1 (errno in the address).
    ok = ok && lo_send_message(address_, std::string(path).c_str(), message.get()) >= 0;
  } catch (...) {  // std::bad_alloc from the path's copy
    ok = false;
  }
  (ok ? sent_ : failed_).fetch_add(1, std::memory_order_relaxed);
  return ok;
}

bool OscSender::note(int pitch, int velocity, int channel) noexcept {
  const OscArg args[] = {std::int32_t{pitch}, std::int32_t{velocity}, std::int32_t{channel}};
  return send("/nextbeat/out/note", args);
}

bool OscSender::beat(std::int32_t beat) noexcept {
  const OscArg args[] = {beat};
  return send("/nextbeat/beat", args);
}

bool OscSender::error(std::string_view text) noexcept {
  try {
    const OscArg args[] = {std::string(text)};
    return send("/nextbeat/error", args);
  } catch (...) {  // std::bad_alloc
    failed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
}

void OscNoteOutput::emit(const engine::OutputEvent& event) noexcept {
  switch (event.kind) {
    case engine::OutputKind::kNoteOn:
      sender_.note(event.pitch, event.velocity, event.channel + 1);
      break;
    case engine::OutputKind::kNoteOff:
      sender_.note(event.pitch, 0, event.channel + 1);
      break;
    case engine::OutputKind::kBeat: {
      // OSC's i is 32 bits: at 400 bpm that lasts ten thousand years.
      using Limits = std::numeric_limits<std::int32_t>;
      sender_.beat(static_cast<std::int32_t>(std::clamp<std::int64_t>(event.beat, Limits::min(), Limits::max())));
      break;
    }
    default:  // clock, start, stop, program, all-notes-off: no OSC form
      break;
  }
}

}  // namespace nextbeat::io
