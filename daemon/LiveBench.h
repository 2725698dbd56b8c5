// Measuring the live path, for `nextbeat bench` and `nextbeat doctor`
// (defined in BenchCommand.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/Config.h"

#include "engine/codec/Codec.h"

namespace nextbeat::engine {
class LstmModel;
}

namespace nextbeat::daemon {

// One step at a time over `steps`, state carried: the time of each in ns. A
// short sleep every few steps, as between a performer's events: a SCHED_FIFO
// loop that never sleeps is stopped by the kernel's real-time throttling (50 ms
// a second), which would show as a step of 50 ms. Resets the model first.
std::vector<std::int64_t> time_steps(engine::LstmModel& model, const std::vector<engine::Step>& steps);

// `beats` beats of accompaniment at `bpm` through the real LiveEngine on a
// clock that skips idle time but not compute time (a slow rollout misses as
// it would live): deadline misses, rollout and per-event latency.
nlohmann::ordered_json simulate_live(std::unique_ptr<engine::LstmModel> model, config::Config config, int beats,
                                     double bpm);

}  // namespace nextbeat::daemon
