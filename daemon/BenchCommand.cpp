// `nextbeat bench`: the latency figures of the live path on this machine.
// Measures, does not judge: no figure here fails anything (the machines are
// shared and noisy); scripts/bench.sh puts them beside the stock LibTorch and
// Python steps, and docs/PERFORMANCE.md says what they mean.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "config/BundledModelNames.h"
#include "config/ConfigLoader.h"
#include "daemon/Commands.h"
#include "daemon/LiveBench.h"
#include "engine/live/LiveEngine.h"
#include "engine/model/Model.h"
#include "engine/model/Runtime.h"
#include "engine/model/VectorMath.h"
#include "engine/offline/Generator.h"

namespace nextbeat::daemon {
namespace {

using engine::LstmModel;
using Json = nlohmann::ordered_json;

struct BenchOptions {
  std::optional<std::string> model;  // none: the config's model.path
  std::string size;                  // "LAYERSxHIDDEN": a fresh events model of that size instead
  std::optional<std::string> config_path;
  std::vector<std::string> overrides;
  int steps = 20'000;
  int beats = 10'000;
  double bpm = 240;
  bool stock = true;
  bool json = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Seconds from this process's exec to now (/proc/self/stat field 22, in
// clock ticks since boot: 10 ms resolution).
std::optional<double> process_age_s() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i < 22) continue;
    timespec boot{};
    clock_gettime(CLOCK_BOOTTIME, &boot);
    const double started = std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
    return static_cast<double>(boot.tv_sec) + static_cast<double>(boot.tv_nsec) * 1e-9 - started;
  }
  return std::nullopt;
}

// VmRSS and VmHWM of this process, in MiB.
std::pair<double, double> resident_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  double rss = 0, peak = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    double kib = 0;
    fields >> key >> kib;
    if (key == "VmRSS:") rss = kib / 1024;
    if (key == "VmHWM:") peak = kib / 1024;
  }
  return {rss, peak};
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  return "unknown";
}

Json distribution_us(std::vector<std::int64_t> ns) {
  if (ns.empty()) return Json::object();
  double sum = 0;
  for (const auto v : ns) sum += static_cast<double>(v);
  const auto round2 = [](double v) { return std::round(v * 100) / 100; };
  const double max = static_cast<double>(*std::max_element(ns.begin(), ns.end())) / 1000.0;
  const double mean = sum / static_cast<double>(ns.size()) / 1000.0;
  return Json{{"count", ns.size()},
              {"p50", round2(engine::percentile_us(ns, 0.5))},
              {"p99", round2(engine::percentile_us(ns, 0.99))},
              {"p999", round2(engine::percentile_us(ns, 0.999))},
              {"max", round2(max)},
              {"mean", round2(mean)}};
}

engine::ModelSpec fresh_spec(const std::string& size) {
  int layers = 0, hidden = 0;
  char x = 0;
  std::istringstream in(size);
  if (!(in >> layers >> x >> hidden) || x != 'x' || layers < 1 || layers > engine::kMaxModelLayers || hidden < 1 ||
      hidden > engine::kMaxModelWidth || in.peek() != std::char_traits<char>::eof())
    throw std::runtime_error("--size " + size + ": expected LAYERSxHIDDEN, e.g. 3x512");
  engine::ModelSpec spec;
  spec.input_size = engine::make_codec(spec.codec)->input_size();
  spec.layers = layers;
  spec.hidden = hidden;
  spec.embed = hidden;
  return spec;
}

// This core's read bandwidth over a buffer of `bytes` (as many as the step
// reads), in bytes per ns: repeated passes, best of several, so that the
// buffer sits wherever a step's weights would (L2, L3 or memory). A step
// cannot be faster than its weight bytes over this: the floor bench prints.
NEXTBEAT_VECTOR_CLONES double read_bandwidth(std::size_t bytes) {
  using Lanes = std::uint64_t __attribute__((vector_size(64)));  // GCC splits it to what the CPU has
  const std::size_t n = std::max<std::size_t>(1, bytes / sizeof(Lanes));
  // Not a std::vector<Lanes>: GCC drops the vector type's 64-byte alignment
  // when it is a template argument, and the loads below are aligned ones.
  const std::unique_ptr<void, decltype(&std::free)> storage(std::aligned_alloc(64, n * sizeof(Lanes)), &std::free);
  if (!storage) return 0;
  auto* buffer = static_cast<Lanes*>(storage.get());
  for (std::size_t i = 0; i < n; ++i) buffer[i] = Lanes{} + static_cast<std::uint64_t>(i);
  Lanes a{}, b{}, c{}, d{};
  double best_ns = 1e300;
  const std::size_t passes = std::max<std::size_t>(1, (64u << 20) / (n * sizeof(Lanes)));  // ~64 MB a trial
  for (int trial = 0; trial < 7; ++trial) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t p = 0; p < passes; ++p) {
      std::size_t i = 0;
      for (; i + 4 <= n; i += 4) {
        a += buffer[i];
        b += buffer[i + 1];
        c += buffer[i + 2];
        d += buffer[i + 3];
      }
      for (; i < n; ++i) a += buffer[i];
      asm volatile("" ::: "memory");  // the buffer may have changed: every pass loads it again
    }
    const double ns = static_cast<double>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    best_ns = std::min(best_ns, ns / static_cast<double>(passes));
  }
  const Lanes sum = a + b + c + d;
  volatile std::uint64_t sink = sum[0];  // the sums are used, so the loads are not dead
  (void)sink;
  return static_cast<double>(n * sizeof(Lanes)) / best_ns;
}

// Real time, except that most of the waiting is skipped: the engine's
// computing costs what it costs (a slow rollout misses its deadline as it
// would live), but the idle time between events passes at once, so 10,000
// beats at 240 bpm (42 minutes of music) take seconds. Some of each wait is
// really slept, as the engine thread sleeps live: caches go cold as they do
// on stage, and a SCHED_FIFO thread that never sleeps would be stopped for
// 50 ms every second by the kernel's real-time throttling.
class SkippingClock final : public engine::Clock {
 public:
  std::int64_t now_ns() const noexcept override { return real_.now_ns() + skipped_; }
  void skip_to(std::int64_t t) noexcept {
    constexpr std::int64_t kMaxSleepNs = 200'000;
    auto now = now_ns();
    if (t <= now) return;
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min(kMaxSleepNs, (t - now) / 10)));
    now = now_ns();
    if (t > now) skipped_ += t - now;
  }

 private:
  engine::SteadyClock real_;
  std::int64_t skipped_ = 0;
};

struct CountingSink final : engine::OutputSink {
  void emit(const engine::OutputEvent& e) noexcept override { notes += e.kind == engine::OutputKind::kNoteOn; }
  std::uint64_t notes = 0;
};

// Collects every value a LatencyLog receives (it keeps only the recent ones).
struct LogReader {
  const engine::LatencyLog& log;
  std::uint64_t next = 0;
  std::vector<std::int64_t> values;
  void read() {
    for (; next < log.count(); ++next)
      if (const auto v = log.at(next)) values.push_back(*v);
  }
};

// A performer playing eighth notes of a C major melody, every beat, and
// nextbeat accompanying: a prediction every beat, performer events and
// nextbeat's own notes fed to the state in between, as on stage.
}  // namespace

nlohmann::ordered_json simulate_live(std::unique_ptr<LstmModel> model, config::Config config, int beats, double bpm) {
  config.engine.mode = config::Mode::kAccompany;
  config.clock.source = config::ClockSource::kInternal;
  config.clock.tempo_bpm = bpm;
  config.sampling.seed = 7;
  SkippingClock clock;
  CountingSink sink;
  engine::LiveEngine live(std::move(model), config, sink, clock);
  const auto& stats = live.stats();
  LogReader rollouts{stats.rollout_ns}, events{stats.step_ns}, computes{stats.step_compute_ns};

  static constexpr int kMelody[] = {60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62};
  const auto beat_ns = static_cast<std::int64_t>(60e9 / bpm);
  const std::int64_t t0 = clock.now_ns() + beat_ns;
  std::int64_t note = 0;  // eighth notes since t0; each has an on and an off event
  bool off_next = false;
  const auto event_time = [&] { return t0 + note * beat_ns / 2 + (off_next ? beat_ns * 2 / 5 : 0); };

  const auto wall = std::chrono::steady_clock::now();
  while (stats.beats.load() < static_cast<std::uint64_t>(beats)) {
    const std::int64_t due = event_time();
    clock.skip_to(std::min(live.next_wakeup_ns(), due));
    if (clock.now_ns() >= due) {
      engine::InputEvent e{.time_ns = due,
                           .kind = off_next ? engine::InputKind::kNoteOff : engine::InputKind::kNoteOn,
                           .a = static_cast<std::int16_t>(kMelody[note % 14]),
                           .b = static_cast<std::int16_t>(off_next ? 0 : 80)};
      live.handle(e);
      if (off_next) ++note;
      off_next = !off_next;
    }
    live.advance();
    rollouts.read();
    events.read();
    computes.read();
  }
  live.stop();
  const double wall_s = seconds_since(wall);
  return Json{{"beats", stats.beats.load()},
              {"bpm", bpm},
              {"mode", "accompany"},
              {"latency_budget_ms", config.engine.latency_budget_ms},
              {"predictions", stats.predictions.load()},
              {"deadline_misses", stats.misses.load()},
              {"rollout_us", distribution_us(rollouts.values)},
              {"event_us", distribution_us(events.values)},
              {"event_compute_us", distribution_us(computes.values)},
              {"model_steps", stats.model_steps.load()},
              {"notes_in", stats.notes_in.load()},
              {"notes_out", sink.notes},
              {"wall_s", std::round(wall_s * 10) / 10}};
}

namespace {

Json run_bench(const BenchOptions& o) {
  const config::Config config =
      o.config_path ? config::load_config_file(*o.config_path, o.overrides) : config::default_config(o.overrides);
  engine::set_inference_threads(config.model.threads);

  // Start-up: from exec to a model ready on the engine thread, as `run` does it.
  const auto load_start = std::chrono::steady_clock::now();
  engine::LiveModel live;
  std::string name = o.model.value_or(config.model.path);
  std::uintmax_t file_bytes = 0;
  if (o.size.empty()) {
    live = engine::load_live_model(name, config.model);
    file_bytes = std::filesystem::file_size(engine::resolve_model_path(name));
  } else {
    name = "fresh " + o.size + " events model (random weights)";
    live.model = std::make_unique<LstmModel>(fresh_spec(o.size), 1);
    live.inference = live.model->prepare_inference(config.model.device, config.model.precision);
  }
  const double load_s = seconds_since(load_start);
  const auto age = process_age_s();
  LstmModel& model = *live.model;
  const auto& spec = model.spec();

  Json report;
  report["model"] = Json{{"name", name},
                         {"codec", std::string(engine::codec_name(spec.codec.kind))},
                         {"layers", spec.layers},
                         {"hidden", spec.hidden},
                         {"embed", spec.embed},
                         {"vocabulary", spec.input_size},
                         {"parameters", model.parameter_count()},
                         {"file_bytes", file_bytes},
                         {"packed_matrix_bytes", model.packed_matrix_bytes()},
                         {"packed_table_bytes", model.packed_table_bytes()}};
  const auto rt = engine::runtime_info();
  sched_param param{};
  param.sched_priority = 70;  // the engine thread's, in `run`
  const bool realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0;
  report["runtime"] = Json{{"cpu", cpu_name()},
                           {"cores", std::thread::hardware_concurrency()},
                           {"torch", rt.torch_version},
                           {"blas", rt.blas.description},
                           {"blas_library", rt.blas.library_path},
                           {"blas_is_reference", rt.blas.is_reference},
                           {"cuda_available", rt.cuda_available},
                           {"device", model.on_cuda() ? "cuda" : "cpu"},
                           {"step", live.inference},
                           {"precision", config::enum_name(model.precision())},
                           {"threads", config.model.threads},
                           {"scheduling", realtime ? "SCHED_FIFO" : "normal (SCHED_FIFO not permitted)"}};
  report["startup_ms"] = Json{{"model_ready", std::round(load_s * 1e4) / 10},
                              {"process_to_ready", age ? Json(std::round(*age * 1e4) / 10) : Json()}};

  // The step alone, on the live path and (same weights, same inputs) on the
  // stock LibTorch module.
  // The model's own kind of music as input.
  const auto steps = engine::self_sampled_steps(model, o.steps, 1);
  const auto ours = time_steps(model, steps);
  report["step_us"] = distribution_us(ours);
  // The floor: the bytes a step reads over this core's bandwidth for that many bytes.
  const auto step_bytes = model.packed_matrix_bytes();
  const double bytes_per_ns = step_bytes > 0 && !model.on_cuda() ? read_bandwidth(step_bytes) : 0;
  if (bytes_per_ns > 0) {
    const double floor_us = static_cast<double>(step_bytes) / bytes_per_ns / 1000.0;
    report["step_floor"] =
        Json{{"bytes", step_bytes},
             {"read_gb_per_s", std::round(bytes_per_ns * 10) / 10},
             {"floor_us", std::round(floor_us * 10) / 10},
             {"p50_over_floor", std::round(engine::percentile_us(ours, 0.5) / floor_us * 100) / 100}};
  }
  if (o.stock && !model.on_cuda()) {
    const auto path = model.step_path();
    const auto precision = model.precision();
    model.use_step_path(LstmModel::StepPath::kLibTorch);
    const auto stock = time_steps(model, steps);
    model.use_step_path(path, precision);
    report["stock_libtorch_step_us"] = distribution_us(stock);
    report["speedup_vs_stock_p50"] =
        std::round(engine::percentile_us(stock, 0.5) / std::max(1e-3, engine::percentile_us(ours, 0.5)) * 100) / 100;
  }
  model.reset();

  report["live"] = simulate_live(std::move(live.model), config, o.beats, o.bpm);
  const auto [rss, peak] = resident_mib();
  report["memory_mib"] = Json{{"rss", std::round(rss * 10) / 10}, {"peak_rss", std::round(peak * 10) / 10}};
  return report;
}

void print_text(const Json& r, std::ostream& out) {
  const auto d = [](const Json& j) {
    if (!j.contains("p50")) return std::string("-");
    char text[160];
    std::snprintf(text, sizeof text, "p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f µs  (n=%d)", j["p50"].get<double>(),
                  j["p99"].get<double>(), j["p999"].get<double>(), j["max"].get<double>(), j["count"].get<int>());
    return std::string(text);
  };
  const auto& m = r["model"];
  const auto& rt = r["runtime"];
  const auto& live = r["live"];
  out << "model        " << m["name"].get<std::string>() << ": " << m["codec"].get<std::string>() << ", " << m["layers"]
      << " x " << m["hidden"] << " LSTM, " << m["parameters"] << " parameters, file "
      << m["file_bytes"].get<std::uint64_t>() / 1024 << " KiB, packed "
      << m["packed_matrix_bytes"].get<std::uint64_t>() / 1024 << " KiB read a step\n";
  out << "runtime      " << rt["cpu"].get<std::string>() << " (" << rt["cores"] << " cores), LibTorch "
      << rt["torch"].get<std::string>() << ", BLAS " << rt["blas"].get<std::string>() << "\n";
  out << "step         " << rt["step"].get<std::string>() << ", " << rt["threads"] << " thread(s), "
      << rt["scheduling"].get<std::string>() << "\n";
  out << "start-up     model ready in " << r["startup_ms"]["model_ready"] << " ms, "
      << r["startup_ms"]["process_to_ready"] << " ms from exec\n";
  out << "step         " << d(r["step_us"]) << "\n";
  if (r.contains("step_floor")) {
    const auto& f = r["step_floor"];
    out << "floor        " << f["floor_us"] << " µs: " << f["bytes"].get<std::uint64_t>() / 1024 << " KiB at "
        << f["read_gb_per_s"] << " GB/s (this core reading that many bytes); step p50 is " << f["p50_over_floor"]
        << "x its floor\n";
  }
  if (r.contains("stock_libtorch_step_us"))
    out << "stock step   " << d(r["stock_libtorch_step_us"])
        << "  (torch::nn::LSTM module, same weights): " << r["speedup_vs_stock_p50"] << "x\n";
  out << "live         " << live["beats"] << " beats at " << live["bpm"] << " bpm (accompany, budget "
      << live["latency_budget_ms"] << " ms): " << live["deadline_misses"] << " deadline misses, " << live["predictions"]
      << " predictions, " << live["model_steps"] << " model steps, " << live["wall_s"] << " s\n";
  out << "rollout      " << d(live["rollout_us"]) << "\n";
  out << "event        " << d(live["event_us"]) << "  (arrival -> state updated)\n";
  out << "memory       " << r["memory_mib"]["rss"] << " MiB resident, peak " << r["memory_mib"]["peak_rss"] << " MiB\n";
}

}  // namespace

Subcommand add_bench_command(CLI::App& parent) {
  auto options = std::make_shared<BenchOptions>();
  auto* app = parent.add_subcommand("bench",
                                    "Measure the live path: step and rollout latency, deadline misses, "
                                    "start-up, memory (figures, not a test)");
  app->add_option("--model,-m", options->model,
                  "Model file, or " + config::bundled_model_list() + " (default: the config's model.path)");
  app->add_option("--size", options->size,
                  "Bench a fresh events model of this size instead, LAYERSxHIDDEN (e.g. 3x512)");
  app->add_option("--config,-c", options->config_path,
                  "Config file (TOML): model.device, model.precision, "
                  "model.threads, engine.latency_budget_ms...")
      ->check(CLI::ExistingFile);
  app->add_option("-o,--override", options->overrides, "Override a config key: -o model.precision=int8");
  app->add_option("--steps", options->steps, "Steps timed one by one")
      ->check(CLI::Range(100, 10'000'000))
      ->capture_default_str();
  app->add_option("--beats", options->beats, "Beats of live play simulated")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  app->add_option("--bpm", options->bpm, "Tempo of the simulated play")
      ->check(CLI::Range(20.0, 400.0))
      ->capture_default_str();
  app->add_flag("!--no-stock", options->stock, "Skip the stock LibTorch step");
  app->add_flag("--json", options->json, "Print the figures as JSON");
  return {app, reporting_errors("bench", [options] {
            const Json report = run_bench(*options);
            if (options->json) {
              std::cout << report.dump(2) << '\n';
            } else {
              print_text(report, std::cout);
            }
            return 0;
          })};
}

std::vector<std::int64_t> time_steps(engine::LstmModel& model, const std::vector<engine::Step>& steps) {
  model.reset();
  std::vector<std::int64_t> ns;
  ns.reserve(steps.size());
  std::int64_t busy_ns = 0;
  for (const auto& s : steps) {
    if (ns.size() % 16 == 15) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<std::int64_t>(200'000, busy_ns / 8)));
      busy_ns = 0;
    }
    const auto t0 = std::chrono::steady_clock::now();
    model.step(s);
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    busy_ns += ns.back();
  }
  return ns;
}

}  // namespace nextbeat::daemon
