#include "io/link/AbletonLink.h"

#include <time.h>

#include <chrono>
#include <stdexcept>

#include <ableton/Link.hpp>

namespace nextbeat::io {
namespace {

std::int64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

struct AbletonLink::Impl {
  Impl(double tempo_bpm, int q, bool start_stop) : link(tempo_bpm), quantum(q), start_stop_sync(start_stop) {}
  ableton::Link link;
  double quantum;
  bool start_stop_sync;

  // Link's clock (µs) at a steady-clock moment, and back.
  static std::chrono::microseconds link_time(std::int64_t steady_ns, std::int64_t offset_ns) noexcept {
    return std::chrono::microseconds((steady_ns - offset_ns) / 1000);
  }
};

std::int64_t AbletonLink::steady_minus_link_ns() noexcept {
  // Link reads CLOCK_MONOTONIC_RAW on Linux (ableton/platforms/Config.hpp);
  // std::chrono::steady_clock is CLOCK_MONOTONIC. The raw clock read
  // between two steady reads: the error is half the gap (well under a µs).
  const std::int64_t before = clock_ns(CLOCK_MONOTONIC);
  const std::int64_t raw = clock_ns(CLOCK_MONOTONIC_RAW);
  const std::int64_t after = clock_ns(CLOCK_MONOTONIC);
  return before + (after - before) / 2 - raw;
}

AbletonLink::AbletonLink(double tempo_bpm, int quantum, bool start_stop_sync)
    : impl_(std::make_unique<Impl>(tempo_bpm, quantum, start_stop_sync)) {
  impl_->link.enableStartStopSync(start_stop_sync);
  impl_->link.enable(true);
  if (!impl_->link.isEnabled()) throw std::runtime_error("Ableton Link could not be enabled");
}

AbletonLink::~AbletonLink() {
  impl_->link.enable(false);
}

engine::LinkSnapshot AbletonLink::capture(std::int64_t now_ns) noexcept {
  const auto state = impl_->link.captureAudioSessionState();
  const std::int64_t offset = steady_minus_link_ns();
  const auto at = Impl::link_time(now_ns, offset);
  return engine::LinkSnapshot{
      .time_ns = static_cast<std::int64_t>(at.count()) * 1000 + offset,
      .beat = state.beatAtTime(at, impl_->quantum),
      .tempo_bpm = state.tempo(),
      .playing = !impl_->start_stop_sync || state.isPlaying(),
  };
}

void AbletonLink::propose_tempo(double bpm, std::int64_t at_ns) noexcept {
  auto state = impl_->link.captureAudioSessionState();
  state.setTempo(bpm, Impl::link_time(at_ns, steady_minus_link_ns()));
  impl_->link.commitAudioSessionState(state);
}

std::size_t AbletonLink::peers() const noexcept {
  return impl_->link.numPeers();
}

}  // namespace nextbeat::io
