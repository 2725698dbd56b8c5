// Where and how a model's streaming step runs (prepare_inference: the CPU's
// packed step or LibTorch on CUDA, measured for `auto`), and the models the
// live engine gets (load_live_model). Off the engine thread: all of it
// allocates, and `auto` measures for ~0.2 s.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include <torch/cuda.h>

#include "engine/codec/Codec.h"
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

// The model's own kind of input, without a sampler: each step feeds back the
// most likely next output of fp32 (a token, or the keys above even odds).
std::vector<Step> greedy_steps(LstmModel& model, int count) {
  const StepForm form = step_form(model.spec().codec.kind);
  std::vector<Step> steps;
  model.reset();
  for (int i = 0; i < count; ++i) {
    const auto logits = model.logits();
    Step s = warm_up_step(model.spec());
    if (form == StepForm::kToken) {
      s.token = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    } else {
      s.frame.reset();
      for (std::size_t k = 0; k < logits.size() && k < s.frame.size(); ++k)
        if (logits[k] > 0) s.frame.set(k);
    }
    steps.push_back(s);
    model.step(s);
  }
  return steps;
}

// Next-step distributions along `steps`: softmax over tokens, or one
// Bernoulli per key for frames.
std::vector<std::vector<double>> distributions(LstmModel& model, const std::vector<Step>& steps) {
  const bool token = step_form(model.spec().codec.kind) == StepForm::kToken;
  std::vector<std::vector<double>> out;
  model.reset();
  for (const Step& s : steps) {
    const auto logits = model.step(s);
    std::vector<double> p(logits.begin(), logits.end());
    if (token) {
      const double top = *std::max_element(p.begin(), p.end());
      double sum = 0;
      for (double& x : p) sum += (x = std::exp(x - top));
      for (double& x : p) x /= sum;
    } else {
      for (double& x : p) x = 1 / (1 + std::exp(-x));
    }
    out.push_back(std::move(p));
  }
  return out;
}

struct Divergence {
  double mean_kl = 0;
  double worst_tv = 0;
  double top1_agreement = 1;
};

Divergence divergence(const std::vector<std::vector<double>>& ref, const std::vector<std::vector<double>>& got,
                      bool token) {
  Divergence d;
  int same = 0;
  double kl_sum = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const auto& p = ref[i];
    const auto& q = got[i];
    double kl = 0, tv = 0;
    constexpr double kEps = 1e-12;
    for (std::size_t k = 0; k < p.size(); ++k) {
      if (token) {
        if (p[k] > 0) kl += p[k] * std::log((p[k] + kEps) / (q[k] + kEps));
        tv += std::abs(p[k] - q[k]) / 2;
      } else {  // Bernoulli per key: summed KL, the worst key's TV
        const double a = std::clamp(p[k], kEps, 1 - kEps), b = std::clamp(q[k], kEps, 1 - kEps);
        kl += a * std::log(a / b) + (1 - a) * std::log((1 - a) / (1 - b));
        tv = std::max(tv, std::abs(a - b));
      }
    }
    kl_sum += kl;
    d.worst_tv = std::max(d.worst_tv, tv);
    const auto top = [&](const std::vector<double>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
    if (top(p) == top(q)) ++same;
  }
  if (!ref.empty()) {
    d.mean_kl = kl_sum / static_cast<double>(ref.size());
    d.top1_agreement = static_cast<double>(same) / static_cast<double>(ref.size());
  }
  return d;
}

// model.precision = auto: the packed step in each precision, timed and
// checked against fp32 on this model; leaves the model on the choice.
std::string choose_precision(LstmModel& model) {
  using config::WeightPrecision;
  const bool token = step_form(model.spec().codec.kind) == StepForm::kToken;
  model.use_step_path(LstmModel::StepPath::kPacked, WeightPrecision::kFloat32);
  const std::vector<Step> steps = greedy_steps(model, 200);
  const auto reference = distributions(model, steps);
  const double fp32_us = median_step_us(model, 300);
  struct Candidate {
    WeightPrecision precision;
    PrecisionTolerance tolerance;
    double us = 0;
    Divergence d;
    bool within = false;
  };
  std::array<Candidate, 2> candidates{
      {{WeightPrecision::kFloat16, kFloat16Tolerance}, {WeightPrecision::kInt8, kInt8Tolerance}}};
  WeightPrecision best = WeightPrecision::kFloat32;
  double best_us = fp32_us;
  for (Candidate& c : candidates) {
    model.use_step_path(LstmModel::StepPath::kPacked, c.precision);
    c.d = divergence(reference, distributions(model, steps), token);
    c.us = median_step_us(model, 300);
    c.within = c.d.mean_kl <= c.tolerance.mean_kl && c.d.worst_tv <= c.tolerance.worst_tv &&
               c.d.top1_agreement >= c.tolerance.top1_agreement;
    // Clearly faster (10 %) than the best so far, or fp32's exact results win.
    if (c.within && c.us < best_us * 0.9) {
      best = c.precision;
      best_us = c.us;
    }
  }
  model.use_step_path(LstmModel::StepPath::kPacked, best);
  model.reset();
  std::string why = "auto: fp32 " + format_us(fp32_us);
  for (const Candidate& c : candidates) {
    char text[160];
    std::snprintf(text, sizeof text, ", %s %s (mean KL %.1e, worst TV %.3f, top-1 %.1f%%%s)",
                  std::string(config::enum_name(c.precision)).c_str(), format_us(c.us).c_str(), c.d.mean_kl,
                  c.d.worst_tv, c.d.top1_agreement * 100, c.within ? "" : ": outside its tolerance");
    why += text;
  }
  return why + " a step";
}

config::WeightPrecision fixed_precision(config::PrecisionSetting setting) {
  switch (setting) {
    case config::PrecisionSetting::kFloat16:
      return config::WeightPrecision::kFloat16;
    case config::PrecisionSetting::kInt8:
      return config::WeightPrecision::kInt8;
    default:
      return config::WeightPrecision::kFloat32;
  }
}

}  // namespace

std::string LstmModel::prepare_inference(config::Device device, config::PrecisionSetting precision) {
  const bool cuda = torch::cuda::is_available();
  const bool automatic = precision == config::PrecisionSetting::kAuto;
  // The packed CPU step in the configured precision, or in the one auto chose.
  const auto use_cpu = [&]() -> std::string {
    std::string why;
    if (automatic) {
      why = " (" + choose_precision(*this) + ")";
    } else {
      use_step_path(StepPath::kPacked, fixed_precision(precision));
    }
    return "packed " + std::string(config::enum_name(precision_)) + " step on the CPU" + why;
  };
  if (device == config::Device::kCpu || !cuda) {
    const std::string packed = use_cpu();
    if (device == config::Device::kCuda) return packed + " (model.device = cuda, but this LibTorch has no CUDA device)";
    return packed + (device == config::Device::kAuto ? " (device auto: no CUDA device)" : "");
  }
  // model.precision applies to the CPU step; the GPU steps in fp32.
  use_step_path(StepPath::kLibTorch, config::WeightPrecision::kFloat32, /*cuda=*/true);
  if (device == config::Device::kCuda) return "LibTorch step on CUDA";
  // auto: a batch-1 recurrent step is often faster on the CPU; measure.
  const double gpu_us = median_step_us(*this, 200);
  const std::string packed = use_cpu();
  const double cpu_us = median_step_us(*this, 200);
  const std::string measured = " (device auto: CPU " + format_us(cpu_us) + ", CUDA " + format_us(gpu_us) + " a step)";
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
