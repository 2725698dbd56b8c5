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
#include <thread>
#include <vector>

// LibTorch first: c10 defines a CHECK macro of its own (an abort, not a
// recorded assertion); Catch's, included after, must be the one in force.
#include "engine/model/LstmNet.h"

#include <catch2/catch.hpp>

#include "CountingAllocator.h"
#include "LiveFakes.h"
#include "config/Config.h"
#include "engine/codec/Codec.h"
#include "engine/live/LiveEngine.h"
#include "engine/model/Model.h"
#include "engine/model/PackedLstm.h"
#include "engine/model/Runtime.h"
#include "engine/offline/Generator.h"

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

// token: softmax over the vocabulary; otherwise (frames) one Bernoulli per
// key, KL summed over the keys and the worst key's TV, as model.precision =
// auto measures them (InferenceSetup.cpp).
Divergence compare(const std::vector<std::vector<float>>& ref, const std::vector<std::vector<float>>& got,
                   bool token = true) {
  Divergence d;
  const auto sigmoid = [](const std::vector<float>& l) {
    std::vector<double> p(l.size());
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = std::clamp(1 / (1 + std::exp(-double(l[i]))), 1e-12, 1 - 1e-12);
    return p;
  };
  for (std::size_t t = 0; t < ref.size(); ++t) {
    const auto p = token ? softmax(ref[t]) : sigmoid(ref[t]);
    const auto q = token ? softmax(got[t]) : sigmoid(got[t]);
    double kl = 0, tv = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (token) {
        if (p[i] > 0) kl += p[i] * std::log(p[i] / std::max(q[i], 1e-300));
        tv += std::abs(p[i] - q[i]) / 2;
      } else {
        kl += p[i] * std::log(p[i] / q[i]) + (1 - p[i]) * std::log((1 - p[i]) / (1 - q[i]));
        tv = std::max(tv, std::abs(p[i] - q[i]));
      }
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
// weights (Model.h, which model.precision = auto uses), on both bundled
// models (trained, peaked distributions) and on a sharpened 3 x 512 model,
// each streamed over its own sampled music so that rounding accumulates in
// the state as it would on stage. The stated tolerance is generous; each case
// is also held to about 3x what was measured here (x86-64, 2026-11), so that
// a packing or rounding regression well inside the stated bound still fails.
TEST_CASE("fp16 and int8 weights keep the distribution within the stated tolerance", "[unit][packed]") {
  struct Bound {
    double mean_kl, max_tv, top1_agree;
  };
  struct Case {
    const char* name;
    LstmModel model;
    bool token;
    Bound fp16, int8;  // ~3x the measured mean KL and TV; agreement a little under the measured
  };
  std::vector<Case> cases;
  // Measured (mean KL, max TV, top-1 of 400 steps): events fp16 7.3e-8, 5.4e-4, 1; int8 1.7e-4, 0.027, 0.9975
  // (the roles model, 2026-12; the chorale-only one: 5.7e-8, 7.0e-4, 1; 1.6e-4, 0.037, 0.995).
  // pianoroll fp16 5.1e-8, 1.9e-4, 1; int8 3.8e-4, 0.014, 0.9925. sharpened fp16 2.8e-7, 3.9e-4, 0.995;
  // int8 1.0e-4, 0.0076, 0.98. Top-1 bounds allow ~2.5x the measured disagreement.
  const Bound events_fp16{1.5e-7, 2e-3, 0.995}, events_int8{4e-4, 0.08, 0.985};
  const Bound pianoroll_fp16{1.5e-7, 5e-4, 0.995}, pianoroll_int8{1e-3, 0.04, 0.98};
  const Bound sharpened_fp16{8e-7, 1e-3, 0.985}, sharpened_int8{3e-4, 0.02, 0.95};
  cases.push_back(
      {"default:events", LstmModel::load(resolve_model_path("default:events")), true, events_fp16, events_int8});
  cases.push_back({"default:pianoroll", LstmModel::load(resolve_model_path("default:pianoroll")), false, pianoroll_fp16,
                   pianoroll_int8});
  cases.push_back({"sharpened 3x512", sharpened(events_spec(3, 512), 11), true, sharpened_fp16, sharpened_int8});
  for (auto& [name, model, token, fp16, int8] : cases) {
    const auto steps = self_sampled_steps(model, 400, 6);
    const auto fp32 = run(model, steps);
    for (const auto precision : {WeightPrecision::kFloat16, WeightPrecision::kInt8}) {
      model.use_step_path(LstmModel::StepPath::kPacked, precision);
      const Divergence d = compare(fp32, run(model, steps), token);
      INFO(name << " " << config::enum_name(precision) << ": mean KL " << d.mean_kl << ", max KL " << d.max_kl
                << ", max TV " << d.max_tv << ", top-1 agreement " << d.top1_agree);
      const PrecisionTolerance stated = precision == WeightPrecision::kFloat16 ? kFloat16Tolerance : kInt8Tolerance;
      const Bound& measured = precision == WeightPrecision::kFloat16 ? fp16 : int8;
      CHECK(d.mean_kl < stated.mean_kl);
      CHECK(d.max_tv < stated.worst_tv);
      CHECK(d.top1_agree >= stated.top1_agreement);
      CHECK(d.mean_kl < measured.mean_kl);
      CHECK(d.max_tv < measured.max_tv);
      CHECK(d.top1_agree >= measured.top1_agree);
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
    nextbeat::test::CountAllocations count;
    for (const auto& s : steps) model.step(s);
    model.snapshot(saved);  // a rollout's copy, into storage that has the size
    model.restore(saved);
    CHECK(count.count() == 0);
  }
}

TEST_CASE("model.device: auto and cpu step on the packed CPU path without a GPU, cuda falls back", "[unit][packed]") {
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

TEST_CASE("the allocation counter sees every allocation function on the armed thread only", "[unit][packed]") {
  using nextbeat::test::CountAllocations;
  // volatile: the compiler may not drop an allocation whose result it cannot see unused.
  static void* volatile kept = nullptr;
  const auto counted = [](auto&& allocate) {
    CountAllocations count;
    allocate();
    return count.count();
  };
  CHECK(counted([] {
          kept = new int(1);
          delete static_cast<int*>(kept);
        }) >= 1);
  CHECK(counted([] {
          kept = new int[4];
          delete[] static_cast<int*>(kept);
        }) >= 1);
  CHECK(counted([] {
          kept = ::operator new (64, std::align_val_t{256});
          ::operator delete (kept, std::align_val_t{256});
        }) >= 1);
  CHECK(counted([] {
          kept = new (std::nothrow) int(1);
          delete static_cast<int*>(kept);
        }) >= 1);
  CHECK(counted([] {
          std::vector<int> v(100);
          kept = v.data();
        }) >= 1);
  if (nextbeat::test::c_functions_counted()) {
    CHECK(counted([] {
            kept = std::malloc(16);
            std::free(kept);
          }) == 1);
    CHECK(counted([] {
            kept = std::calloc(4, 16);
            std::free(kept);
          }) == 1);
    CHECK(counted([] {
            kept = std::realloc(nullptr, 16);
            kept = std::realloc(kept, 4096);
            std::free(kept);
          }) == 2);
    CHECK(counted([] {
            kept = std::aligned_alloc(64, 128);
            std::free(kept);
          }) == 1);
    CHECK(counted([] {
            void* p = nullptr;
            if (posix_memalign(&p, 64, 128) == 0) kept = p;
            std::free(kept);
          }) == 1);
    // LibTorch's CPU allocator is posix_memalign underneath: a tensor is seen.
    CHECK(counted([] { kept = torch::zeros({64}).data_ptr(); }) >= 1);
  } else {
    WARN("a sanitizer build: malloc and its kin are the sanitizer's and are not counted here");
  }
  // Another thread's allocations are its own: made while this thread counts
  // (and waits on an atomic, which allocates nothing), they are not counted here.
  std::atomic<int> stage{0};
  std::thread other([&stage] {
    while (stage.load() != 1) std::this_thread::yield();
    for (int i = 0; i < 100; ++i) {
      std::vector<int> v(1000);
      kept = v.data();
    }
    stage.store(2);
  });
  {
    CountAllocations count;
    stage.store(1);
    while (stage.load() != 2) std::this_thread::yield();
    CHECK(count.count() == 0);
  }
  other.join();
}

namespace {

// What reaches the outputs, counted without allocating.
struct CountingSink final : OutputSink {
  void emit(const OutputEvent& e) noexcept override {
    if (e.kind == OutputKind::kNoteOn) ++notes_on;
    if (e.kind == OutputKind::kAllNotesOff) ++all_notes_off;
  }
  std::uint64_t notes_on = 0;
  std::uint64_t all_notes_off = 0;
};

}  // namespace

// docs/THREADS.md: the engine thread never allocates after warm-up. Counted
// on that thread only, every allocation function, through every path it
// takes on stage: each mode, the sampling controls by OSC and CC, MIDI-learn,
// tap, program and channel changes, mute, reset, panic, each fallback on
// missed deadlines, a reload (reconfigure) and model swaps to the other codec
// and back, with what the control thread hands over built off the thread.
TEST_CASE("the live engine does not allocate on its thread on any path", "[unit][packed][live]") {
  using config::Control;
  nextbeat::test::FakeClock clock;
  CountingSink sink;
  config::Config config;
  config.engine.mode = config::Mode::kAccompany;
  config.engine.gap_beats = 2;
  config.engine.latency_budget_ms = 5;
  config.clock.tempo_bpm = 240;
  config.clock.send_midi_clock = true;
  config.sampling.seed = 3;
  LiveEngine engine(std::make_unique<LstmModel>(LstmModel::load(resolve_model_path("default:events"))), config, sink,
                    clock);
  Notification drained;
  const auto step_ms = [&] {
    engine.advance();
    clock.advance(1'000'000);
  };
  const auto play = [&](int beats) {
    static constexpr std::int16_t kMelody[] = {60, 62, 64, 65, 67, 69, 71, 72};
    for (int i = 0; i < beats * 2; ++i) {
      const std::int16_t pitch = kMelody[i % 8];
      engine.handle(InputEvent{.time_ns = clock.t(), .kind = InputKind::kNoteOn, .a = pitch, .b = 80});
      for (int ms = 0; ms < 125; ++ms) {
        if (ms == 100) engine.handle(InputEvent{.time_ns = clock.t(), .kind = InputKind::kNoteOff, .a = pitch});
        step_ms();
      }
    }
    while (engine.pop_notification(drained)) {  // the control thread's side of the queue
    }
  };
  const auto rest = [&](int beats) {
    for (int ms = 0; ms < beats * 250; ++ms) step_ms();
  };
  const auto control = [&](Control id, double value) {
    engine.handle(InputEvent{
        .time_ns = clock.t(), .kind = InputKind::kControl, .control = static_cast<std::uint8_t>(id), .value = value});
    engine.advance();
  };
  const auto cc = [&](std::int16_t number, std::int16_t value) {
    engine.handle(InputEvent{.time_ns = clock.t(), .kind = InputKind::kControlChange, .a = number, .b = value});
  };
  // Everything a performance can ask of the engine, on the model it has now.
  const auto every_path = [&] {
    const auto notes_before = sink.notes_on;
    play(8);
    engine.handle(InputEvent{
        .time_ns = clock.t(), .kind = InputKind::kLearn, .control = static_cast<std::uint8_t>(Control::kDensity)});
    cc(30, 10);  // learned: CC 30 now moves density
    cc(30, 90);  // density by CC
    cc(21, 40);  // temperature by its default CC
    control(Control::kTopK, 8);
    control(Control::kTopP, 0.9);
    control(Control::kKey, 3);
    control(Control::kScale, 1);
    control(Control::kRepetitionPenalty, 1.5);
    control(Control::kVelocityScale, 0.8);
    control(Control::kPitchMin, 40);
    control(Control::kPitchMax, 90);
    control(Control::kSeed, 11);
    control(Control::kTempo, 200);
    control(Control::kProgram, 5);
    control(Control::kChannel, 2);
    play(6);
    for (int i = 0; i < 4; ++i) {
      control(Control::kTap, 1);
      for (int ms = 0; ms < 300; ++ms) step_ms();
    }
    control(Control::kMode, static_cast<double>(config::Mode::kContinue));
    play(4);
    rest(6);  // continue plays in the pause
    play(2);  // and stops when the performer plays again
    control(Control::kMode, static_cast<double>(config::Mode::kCallResponse));
    rest(8);  // the answer
    control(Control::kMode, static_cast<double>(config::Mode::kAccompany));
    play(4);
    for (const auto fallback : {config::Fallback::kRest, config::Fallback::kRepeat, config::Fallback::kHold}) {
      control(Control::kFallback, static_cast<double>(fallback));
      clock.cost_per_call(1'000'000);  // every look at the clock "takes" 1 ms: every rollout misses
      play(3);
      clock.cost_per_call(0);
      play(2);
    }
    control(Control::kMute, 1);
    play(2);
    control(Control::kMute, 0);
    control(Control::kReset, 1);
    play(3);
    control(Control::kPanic, 1);
    play(3);
    CHECK(sink.notes_on > notes_before);
  };

  play(16);  // warm: every buffer has grown to what playing needs
  // Built on the control thread, before the engine thread's count starts.
  auto reloaded = std::make_unique<config::LiveSettings>(config::live_settings(config));
  reloaded->sampling.temperature = 0.7;
  reloaded->clock.beats_per_bar = 3;
  const auto prepare = [](const char* name) {
    return prepare_model_swap(std::make_unique<LstmModel>(LstmModel::load(resolve_model_path(name))));
  };
  auto to_pianoroll = prepare("default:pianoroll");
  auto to_events = prepare("default:events");
  const auto misses_before = engine.stats().misses.load();
  const auto panics_before = sink.all_notes_off;

  std::unique_ptr<config::LiveSettings> replaced;
  std::unique_ptr<ModelSwap> events_back, pianoroll_back;
  std::uint64_t allocations = 0;
  {
    nextbeat::test::CountAllocations count;  // the engine thread, from here
    replaced = engine.reconfigure(std::move(reloaded));
    every_path();
    // Bar-quantised (the default): each swap lands on a bar line within the
    // beats played after it, and its old parts come back then.
    events_back = engine.swap_model(std::move(to_pianoroll));
    every_path();
    if (!events_back) events_back = engine.take_replaced_model();
    pianoroll_back = engine.swap_model(std::move(to_events));
    play(5);
    if (!pianoroll_back) pianoroll_back = engine.take_replaced_model();
    engine.stop();
    allocations = count.count();
  }
  CHECK(allocations == 0);
  CHECK(engine.stats().misses > misses_before + 6);  // the fallbacks ran
  CHECK(sink.all_notes_off > panics_before);
  CHECK(engine.settings().cc_control[30] == static_cast<std::uint8_t>(Control::kDensity));
  CHECK(engine.settings().clock.beats_per_bar == 3);
  CHECK(replaced->clock.beats_per_bar == 4);
  CHECK(events_back->model->spec().codec.kind == CodecKind::kEvents);
  CHECK(pianoroll_back->model->spec().codec.kind == CodecKind::kPianoRoll);
  {
    nextbeat::test::CountAllocations count;
    const auto probe = std::make_unique<int>(1);  // the counter counts
    CHECK(count.count() >= 1);
  }
}
