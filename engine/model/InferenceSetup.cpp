// Where and how a model's streaming step runs (prepare_inference: the CPU's
// packed step or LibTorch on CUDA, measured for `auto`), and the models the
// live engine gets (load_live_model). Off the engine thread: all of it
// allocates, and `auto` measures for ~0.2 s.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <torch/cuda.h>

#include "engine/model/Model.h"

namespace nextbeat::engine {

namespace {

// Median time of one step on the model's current path, after a warm-up.
double median_step_us(LstmModel& model, int steps) {
  const Step step = warm_up_step(model.spec());
  for (int i = 0; i < 16; ++i) model.step(step);
  std::vector<double> us;
  for (int i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    model.step(step);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(us.begin(), us.begin() + steps / 2, us.end());
  return us[static_cast<std::size_t>(steps / 2)];
}

std::string format_us(double us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f µs", us);
  return text;
}

}  // namespace

std::string LstmModel::prepare_inference(config::Device device, config::WeightPrecision precision) {
  const std::string packed = "packed " + std::string(config::enum_name(precision)) + " step on the CPU";
  const bool cuda = torch::cuda::is_available();
  if (device == config::Device::kCpu || !cuda) {
    use_step_path(StepPath::kPacked, precision);
    if (device == config::Device::kCuda) return packed + " (model.device = cuda, but this LibTorch has no CUDA device)";
    return packed + (device == config::Device::kAuto ? " (auto: no CUDA device)" : "");
  }
  // model.precision applies to the CPU step; the GPU steps in fp32.
  use_step_path(StepPath::kLibTorch, config::WeightPrecision::kFloat32, /*cuda=*/true);
  if (device == config::Device::kCuda) return "LibTorch step on CUDA";
  // auto: a batch-1 recurrent step is often faster on the CPU; measure.
  const double gpu_us = median_step_us(*this, 200);
  use_step_path(StepPath::kPacked, precision);
  const double cpu_us = median_step_us(*this, 200);
  const std::string measured = " (auto: CPU " + format_us(cpu_us) + ", CUDA " + format_us(gpu_us) + " a step)";
  if (cpu_us <= gpu_us) return packed + measured;
  use_step_path(StepPath::kLibTorch, config::WeightPrecision::kFloat32, /*cuda=*/true);
  return "LibTorch step on CUDA" + measured;
}

LiveModel load_live_model(std::string_view name, const config::ModelConfig& config) {
  LiveModel live{std::make_unique<LstmModel>(LstmModel::load(resolve_model_path(name))), {}};
  live.inference = live.model->prepare_inference(config.device, config.precision);
  const Step step = warm_up_step(live.model->spec());
  for (int i = 0; i < 32; ++i) live.model->step(step);
  live.model->reset();
  return live;
}

}  // namespace nextbeat::engine
