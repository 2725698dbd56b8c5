// OSC out (DESIGN.md "OSC namespace", Out side): messages to one host:port
// through liblo, and the engine::OutputSink that turns the engine's notes and
// beats into /nextbeat/out/note and /nextbeat/beat.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "engine/queues/LiveEvent.h"

namespace nextbeat::io {

// One OSC argument: i (int32), f (float) or s (string).
using OscArg = std::variant<std::int32_t, float, std::string>;

// Sends OSC messages over UDP to one host:port. One sender per sending thread:
// liblo's lo_address (which owns the socket) is not safe to share.
//
// Not real-time safe: liblo allocates the message and the first send resolves
// the host name. Fine on the OSC, control and output threads; never on a
// real-time callback (RtAudio, RtMidi/JACK).
class OscSender {
 public:
  // Throws std::invalid_argument for a port outside 1..65535 or an empty host,
  // and std::runtime_error when liblo cannot make the address. The host is
  // resolved at the first send: a name that does not resolve makes the sends
  // fail (counted), it does not throw.
  OscSender(const std::string& host, int port);
  ~OscSender();
  OscSender(const OscSender&) = delete;
  OscSender& operator=(const OscSender&) = delete;

  // called on: the thread that owns this sender. Never throws: false when the
  // message could not be built or sent (too big for UDP, host unresolvable),
  // which failed() counts.
  bool send(std::string_view path, std::span<const OscArg> args) noexcept;
  bool send(std::string_view path, std::initializer_list<OscArg> args) noexcept {
    return send(path, std::span<const OscArg>(args.begin(), args.size()));
  }

  // /nextbeat/out/note iii: pitch 0..127, velocity 0..127 (0 = off), channel 1..16.
  bool note(int pitch, int velocity, int channel) noexcept;
  // /nextbeat/beat i
  bool beat(std::int32_t beat) noexcept;
  // /nextbeat/error s
  bool error(std::string_view text) noexcept;

  std::uint64_t sent() const noexcept { return sent_.load(std::memory_order_relaxed); }
  std::uint64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
  const std::string& target() const noexcept { return target_; }  // "127.0.0.1:9001"

 private:
  void* address_ = nullptr;  // lo_address (a void* in liblo): keeps <lo/lo.h> out of this header
  std::string target_;
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> failed_{0};
};

// The engine's output as OSC: kNoteOn/kNoteOff -> /nextbeat/out/note iii
// (pitch, velocity (0 for off), channel 1..16), kBeat -> /nextbeat/beat i;
// other kinds (clock, program, all-notes-off) have no OSC form and are ignored.
class OscNoteOutput : public engine::OutputSink {
 public:
  OscNoteOutput(const std::string& host, int port) : sender_(host, port) {}

  // called on: the output thread, at the event's scheduled time. NOT real-time
  // safe: liblo allocates the message and calls sendto(). That is acceptable
  // on the output thread, which only waits for due times; never install this
  // sink on a real-time callback. Never throws; failed sends are counted.
  void emit(const engine::OutputEvent& event) noexcept override;

  // The same sender, for other messages from the output thread (echoes).
  OscSender& sender() noexcept { return sender_; }

 private:
  OscSender sender_;
};

}  // namespace nextbeat::io
