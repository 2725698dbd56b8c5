// The packed live step (PackedLstm, through LstmModel): the same numbers as
// the stock LibTorch step, the stated tolerance for fp16 and int8 weights,
// and no allocation per step, nor in the live engine around it. The parity with the full-sequence forward pass
// of training is ModelTest.cpp's first test (it runs the packed path too).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

// LibTorch first: c10 defines a CHECK macro of its own (an abort, not a
// recorded assertion); Catch's, included after, must be the one in force.
#include "engine/model/LstmNet.h"

#include <catch2/catch.hpp>

#include "LiveFakes.h"
#include "config/Config.h"
#include "engine/codec/Codec.h"
#include "engine/live/LiveEngine.h"
#include "engine/model/Model.h"
#include "engine/model/PackedLstm.h"
#include "engine/model/Runtime.h"
#include "engine/offline/Generator.h"

// The replacement pair below is malloc/free underneath; GCC's heuristic does not see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Counts every operator new of this test binary (the live path must not
// allocate; std::vector, std::function and friends all come through here).
namespace {
std::atomic<std::uint64_t> g_allocations{0};
}
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

using namespace nextbeat;
using namespace nextbeat::engine;
using config::WeightPrecision;

namespace {

std::vector<std::vector<float>> run(LstmModel& model, const std::vector<Step>& steps) {
  std::vector<std::vector<float>> out;
  model.reset();
  for (const auto& s : steps) {
    const auto l = model.step(s);
    out.emplace_back(l.begin(), l.end());
  }
  return out;
}

std::vector<double> softmax(const std::vector<float>& logits) {
  const float peak = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (std::size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp(double(logits[i]) - peak);
  for (auto& v : p) v /= sum;
  return p;
}

struct Divergence {
  double mean_kl = 0;  // nats, KL(fp32 || reduced), averaged over steps
  double max_kl = 0;
  double max_tv = 0;      // total variation distance, worst step
  double top1_agree = 0;  // share of steps with the same most likely token
};

Divergence compare(const std::vector<std::vector<float>>& ref, const std::vector<std::vector<float>>& got) {
  Divergence d;
  for (std::size_t t = 0; t < ref.size(); ++t) {
    const auto p = softmax(ref[t]);
    const auto q = softmax(got[t]);
    double kl = 0, tv = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (p[i] > 0) kl += p[i] * std::log(p[i] / std::max(q[i], 1e-300));
      tv += std::abs(p[i] - q[i]) / 2;
    }
    d.mean_kl += kl / static_cast<double>(ref.size());
    d.max_kl = std::max(d.max_kl, kl);
    d.max_tv = std::max(d.max_tv, tv);
    const auto argmax = [](const std::vector<float>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
    d.top1_agree += argmax(ref[t]) == argmax(got[t]) ? 1.0 / static_cast<double>(ref.size()) : 0.0;
  }
  return d;
}

double worst_difference(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  double worst = 0;
  for (std::size_t t = 0; t < a.size(); ++t)
    for (std::size_t i = 0; i < a[t].size(); ++i) worst = std::max(worst, std::abs(double(a[t][i]) - b[t][i]));
  return worst;
}

ModelSpec events_spec(int layers, int hidden, bool position_inputs = true) {
  ModelSpec spec;
  spec.input_size = make_codec(spec.codec)->input_size();
  spec.layers = layers;
  spec.hidden = hidden;
  spec.embed = hidden;
  spec.position_inputs = position_inputs;
  return spec;
}

}  // namespace

TEST_CASE("the packed step gives the stock LibTorch step's logits", "[unit][packed]") {
  for (const char* name : {"default:events", "default:pianoroll"}) {
    SECTION(name) {
      LstmModel model = LstmModel::load(resolve_model_path(name));
      const auto steps = self_sampled_steps(model, 300, 3);
      REQUIRE(model.step_path() == LstmModel::StepPath::kPacked);
      const auto packed = run(model, steps);
      model.use_step_path(LstmModel::StepPath::kLibTorch);
      const auto stock = run(model, steps);
      // Both are fp32 and sum in different orders; logits here reach ~30.
      CHECK(worst_difference(packed, stock) < 2e-5);
    }
  }
  SECTION("odd sizes: 1 and 3 layers, no position inputs, rows not a multiple of the block") {
    for (const auto& spec : {events_spec(1, 40, false), events_spec(3, 72, true)}) {
      LstmModel model(spec, 9);
      const auto steps = self_sampled_steps(model, 100, 4);
      const auto packed = run(model, steps);
      model.use_step_path(LstmModel::StepPath::kLibTorch);
      CHECK(worst_difference(packed, run(model, steps)) < 1e-5);
    }
  }
}

TEST_CASE("a packed matrix multiplies as the plain product, in every precision", "[unit][packed]") {
  const int rows = 131, cols = 37;  // a partial last block
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> w(static_cast<std::size_t>(rows * cols)), x(cols);
  for (auto& v : w) v = normal(rng);
  for (auto& v : x) v = normal(rng);
  std::vector<double> expected(rows, 0.0);
  double x_abs = 0;
  for (const float v : x) x_abs += std::abs(v);
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < cols; ++k) expected[r] += double(w[r * cols + k]) * x[k];

  for (const auto precision : {WeightPrecision::kFloat32, WeightPrecision::kFloat16, WeightPrecision::kInt8}) {
    const PackedMatrix m(w, rows, cols, precision);
    std::vector<float> y(rows + 1, -7.0F);  // one past the end must stay untouched
    m.multiply(x.data(), y.data());
    CHECK(y[rows] == -7.0F);
    for (int r = 0; r < rows; ++r) {
      float peak = 0;
      for (int k = 0; k < cols; ++k) peak = std::max(peak, std::abs(w[r * cols + k]));
      // Rounding of each weight: half an int8 step of the row's range, or fp16's 2^-11 relative.
      const double per_weight = precision == WeightPrecision::kInt8      ? peak / 127.0 / 2
                                : precision == WeightPrecision::kFloat16 ? peak / 2048.0
                                                                         : 0.0;
      CHECK(std::abs(y[r] - expected[r]) <= per_weight * x_abs + 1e-4);
    }
  }
}

namespace {

// A fresh model predicts nearly uniform distributions, which any rounding
// leaves alone. Scaled up, its gates saturate and its head is as peaked as a
// trained model's (the bundled one reaches logits of ~30).
LstmModel sharpened(const ModelSpec& spec, std::uint64_t seed) {
  LstmModel model(spec, seed);
  torch::NoGradGuard no_grad;
  auto& net = model.weights_for_training().module;
  for (auto& p : net->lstm->parameters()) p.mul_(3.0);
  net->head->weight.mul_(12.0);
  model.repack();
  return model;
}

}  // namespace

// The tolerance that docs/PERFORMANCE.md states for reduced-precision
// weights, on the bundled model (trained, peaked distributions) and on a
// sharpened 3 x 512 model, both streamed over their own sampled music so
// that rounding accumulates in the state as it would on stage.
TEST_CASE("fp16 and int8 weights keep the distribution within the stated tolerance", "[unit][packed]") {
  struct Case {
    const char* name;
    LstmModel model;
  };
  std::vector<Case> cases;
  cases.push_back({"default:events", LstmModel::load(resolve_model_path("default:events"))});
  cases.push_back({"sharpened 3x512", sharpened(events_spec(3, 512), 11)});
  for (auto& [name, model] : cases) {
    const auto steps = self_sampled_steps(model, 400, 6);
    const auto fp32 = run(model, steps);
    for (const auto precision : {WeightPrecision::kFloat16, WeightPrecision::kInt8}) {
      model.use_step_path(LstmModel::StepPath::kPacked, precision);
      const Divergence d = compare(fp32, run(model, steps));
      INFO(name << " " << config::enum_name(precision) << ": mean KL " << d.mean_kl << ", max KL " << d.max_kl
                << ", max TV " << d.max_tv << ", top-1 agreement " << d.top1_agree);
      if (precision == WeightPrecision::kFloat16) {
        CHECK(d.mean_kl < 1e-5);
        CHECK(d.max_tv < 0.01);
        CHECK(d.top1_agree > 0.99);
      } else {
        CHECK(d.mean_kl < 2e-3);
        CHECK(d.max_tv < 0.1);
        CHECK(d.top1_agree > 0.95);
      }
    }
    model.use_step_path(LstmModel::StepPath::kPacked, WeightPrecision::kFloat32);
  }
}

TEST_CASE("a packed step does not allocate", "[unit][packed]") {
  for (const auto precision : {WeightPrecision::kFloat32, WeightPrecision::kFloat16, WeightPrecision::kInt8}) {
    LstmModel model = LstmModel::load(resolve_model_path("default:events"));
    model.use_step_path(LstmModel::StepPath::kPacked, precision);
    const auto steps = self_sampled_steps(model, 50, 2);
    LstmModel::State saved;
    model.snapshot(saved);
    const auto before = g_allocations.load();
    for (const auto& s : steps) model.step(s);
    model.snapshot(saved);  // a rollout's copy, into storage that has the size
    model.restore(saved);
    CHECK(g_allocations.load() == before);
  }
}

TEST_CASE("model.device: auto and cpu step on the packed CPU path without a GPU; cuda falls back", "[unit][packed]") {
  LstmModel model = LstmModel::load(resolve_model_path("default:events"));
  const auto line_cuda = model.prepare_inference(config::Device::kCuda, config::PrecisionSetting::kFloat32);
  if (runtime_info().cuda_available) {
    // A CUDA LibTorch with a GPU: the step runs there and matches the CPU.
    CHECK(model.on_cuda());
    const auto steps = self_sampled_steps(model, 50, 8);
    const auto gpu = run(model, steps);
    model.prepare_inference(config::Device::kCpu, config::PrecisionSetting::kFloat32);
    CHECK_FALSE(model.on_cuda());
    CHECK(worst_difference(gpu, run(model, steps)) < 1e-3);
    return;
  }
  CHECK_FALSE(model.on_cuda());
  CHECK(model.step_path() == LstmModel::StepPath::kPacked);
  CHECK(line_cuda.find("but this LibTorch has no CUDA device") != std::string::npos);
  const auto line = model.prepare_inference(config::Device::kAuto, config::PrecisionSetting::kInt8);
  CHECK(line.find("packed int8 step on the CPU") != std::string::npos);
  CHECK(model.precision() == WeightPrecision::kInt8);
  CHECK_THROWS(model.use_step_path(LstmModel::StepPath::kLibTorch, WeightPrecision::kFloat32, /*cuda=*/true));
}

TEST_CASE("model.precision = auto: measured on this CPU, within the stated tolerance, said in the log line",
          "[unit][packed]") {
  for (const char* name : {"default:events", "default:pianoroll"}) {
    INFO(name);
    LstmModel model = LstmModel::load(resolve_model_path(name));
    const auto line = model.prepare_inference(config::Device::kCpu, config::PrecisionSetting::kAuto);
    INFO(line);
    const std::string chosen(config::enum_name(model.precision()));
    CHECK(line.starts_with("packed " + chosen + " step on the CPU (auto: fp32 "));
    CHECK(line.find(", fp16 ") != std::string::npos);
    CHECK(line.find(", int8 ") != std::string::npos);
    // What auto chose is never one it found outside its tolerance.
    const auto said = line.find(", " + chosen + " ");
    if (model.precision() != WeightPrecision::kFloat32) {
      REQUIRE(said != std::string::npos);
      CHECK(line.substr(said, line.find(')', said) - said).find("outside") == std::string::npos);
    }
    // The bundled events model is within both tolerances (PERFORMANCE.md's
    // table); the pianoroll model's int8 KL, summed over 88 keys, is near
    // its bound (2.1e-3 measured), so auto may leave int8 out for it.
    if (std::string_view(name) == "default:events") CHECK(line.find("outside its tolerance") == std::string::npos);
  }
}

TEST_CASE("the live engine does not allocate while it plays", "[unit][packed][live]") {
  nextbeat::test::FakeClock clock;
  struct NullSink final : OutputSink {
    void emit(const OutputEvent&) noexcept override {}
  } sink;
  config::Config config;
  config.engine.mode = config::Mode::kAccompany;
  config.clock.tempo_bpm = 240;
  config.sampling.seed = 3;
  LiveEngine engine(std::make_unique<LstmModel>(LstmModel::load(resolve_model_path("default:events"))), config, sink,
                    clock);
  const auto play = [&](int beats) {
    static constexpr std::int16_t kMelody[] = {60, 62, 64, 65, 67, 69, 71, 72};
    for (int i = 0; i < beats * 2; ++i) {
      const std::int16_t pitch = kMelody[i % 8];
      engine.handle(InputEvent{.time_ns = clock.t(), .kind = InputKind::kNoteOn, .a = pitch, .b = 80});
      for (int ms = 0; ms < 125; ++ms) {
        if (ms == 100) engine.handle(InputEvent{.time_ns = clock.t(), .kind = InputKind::kNoteOff, .a = pitch});
        engine.advance();
        clock.advance(1'000'000);
      }
    }
  };
  play(16);  // warm: every buffer has grown to what playing needs
  const auto before = g_allocations.load();
  play(64);
  CHECK(engine.stats().predictions.load() > 60);
  CHECK(g_allocations.load() == before);
  const auto probe = std::make_unique<int>(1);  // the counter counts
  CHECK(g_allocations.load() == before + 1);

  // What the control thread hands over is built there; on the engine thread a
  // reconfigure (SIGHUP), controls by OSC and CC, a MIDI-learn, a mode switch
  // and a panic allocate nothing.
  auto reloaded = std::make_unique<config::LiveSettings>(config::live_settings(config));
  reloaded->sampling.temperature = 0.7;
  reloaded->clock.beats_per_bar = 3;
  const auto before_controls = g_allocations.load();
  auto replaced = engine.reconfigure(std::move(reloaded));
  const auto control = [&](config::Control id, double value) {
    engine.handle(InputEvent{
        .time_ns = clock.t(), .kind = InputKind::kControl, .control = static_cast<std::uint8_t>(id), .value = value});
  };
  const auto cc = [&](std::int16_t number, std::int16_t value) {
    engine.handle(InputEvent{.time_ns = clock.t(), .kind = InputKind::kControlChange, .a = number, .b = value});
  };
  engine.handle(InputEvent{.time_ns = clock.t(),
                           .kind = InputKind::kLearn,
                           .control = static_cast<std::uint8_t>(config::Control::kDensity)});
  cc(30, 10);  // learned: CC 30 now moves density
  cc(30, 90);  // density by CC
  cc(21, 40);  // temperature by its default CC
  control(config::Control::kTopK, 8);
  control(config::Control::kKey, 3);
  control(config::Control::kMode, 0);  // continue
  control(config::Control::kMode, 2);  // accompany again
  control(config::Control::kChannel, 2);
  control(config::Control::kPanic, 1);
  play(8);
  CHECK(g_allocations.load() == before_controls);
  CHECK(engine.settings().cc_control[30] == static_cast<std::uint8_t>(config::Control::kDensity));
  CHECK(engine.settings().clock.beats_per_bar == 3);
  CHECK(replaced->clock.beats_per_bar == 4);

  // Model swaps, to the other codec and back: the parts are built here, as
  // the control thread builds them; the swap itself allocates nothing, and
  // neither does playing on the swapped-in model once it is warm.
  const auto load = [](const char* name) {
    return prepare_model_swap(std::make_unique<LstmModel>(LstmModel::load(resolve_model_path(name))));
  };
  auto to_pianoroll = load("default:pianoroll");
  auto to_events = load("default:events");
  const auto before_swap = g_allocations.load();
  auto events_back = engine.swap_model(std::move(to_pianoroll));
  CHECK(g_allocations.load() == before_swap);
  play(8);
  const auto pianoroll_warm = g_allocations.load();
  play(8);
  CHECK(g_allocations.load() == pianoroll_warm);
  auto pianoroll_back = engine.swap_model(std::move(to_events));
  play(8);
  CHECK(g_allocations.load() == pianoroll_warm);
  CHECK(events_back->model->spec().codec.kind == CodecKind::kEvents);
  CHECK(pianoroll_back->model->spec().codec.kind == CodecKind::kPianoRoll);
}
