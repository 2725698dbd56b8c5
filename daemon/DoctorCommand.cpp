// `nextbeat doctor`: the one command a Pi owner runs when something is off.
// Each check prints one line, "ok", "warn" or "FAIL", what it found, and for
// the last two what to do. The exit code says whether the live path can meet
// its latency budget on this machine (0), or not (1).
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "config/ConfigLoader.h"
#include "daemon/Commands.h"
#include "daemon/LiveBench.h"
#include "engine/live/LiveEngine.h"
#include "engine/model/Model.h"
#include "engine/model/Runtime.h"
#include "engine/offline/Generator.h"
#include "io/DeviceList.h"

namespace nextbeat::daemon {
namespace {

namespace fs = std::filesystem;

class Report {
 public:
  explicit Report(std::ostream& out) : out_(out) {}
  void ok(const std::string& what) { out_ << "ok    " << what << '\n'; }
  void warn(const std::string& what, const std::string& fix) {
    out_ << "warn  " << what << "\n      fix: " << fix << '\n';
    ++warnings_;
  }
  // A failure the live path cannot work around: the exit code becomes 1.
  void fail(const std::string& what, const std::string& fix) {
    out_ << "FAIL  " << what << "\n      fix: " << fix << '\n';
    ++failures_;
  }
  int warnings() const { return warnings_; }
  int failures() const { return failures_; }

 private:
  std::ostream& out_;
  int warnings_ = 0;
  int failures_ = 0;
};

std::string read_first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The kernel's build config: /proc/config.gz, else /boot/config-<release>.
std::optional<std::string> kernel_config_value(const std::string& key) {
  const auto find = [&](const std::string& text) -> std::optional<std::string> {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.starts_with(key + "=")) return line.substr(key.size() + 1);
      if (line == "# " + key + " is not set") return "n";
    }
    return std::nullopt;
  };
  if (gzFile gz = gzopen("/proc/config.gz", "rb")) {
    std::string text;
    char buf[65536];
    int n = 0;
    // The kernel config is well under a few MB; stop at 16 MB whatever it claims.
    while ((n = gzread(gz, buf, sizeof buf)) > 0 && text.size() < (16u << 20))
      text.append(buf, static_cast<std::size_t>(n));
    gzclose(gz);
    if (auto v = find(text)) return v;
  }
  std::ifstream boot("/boot/config-" + read_first_line("/proc/sys/kernel/osrelease"));
  if (boot) {
    std::stringstream text;
    text << boot.rdbuf();
    return find(text.str());
  }
  return std::nullopt;
}

void check_realtime(Report& r) {
  rlimit limit{};
  getrlimit(RLIMIT_RTPRIO, &limit);
  bool fifo = false;
  std::thread probe([&] {
    sched_param param{};
    param.sched_priority = 70;  // the engine thread's
    fifo = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0;
  });
  probe.join();
  if (fifo) {
    r.ok("real-time scheduling: SCHED_FIFO 70 allowed");
  } else {
    r.warn("real-time scheduling: SCHED_FIFO not allowed (RLIMIT_RTPRIO " + std::to_string(limit.rlim_cur) +
               "); the engine runs at normal priority and a busy machine can make it late",
           "run under the systemd unit (LimitRTPRIO=95), or add the user to the audio group with rtprio 95 in "
           "/etc/security/limits.d/audio.conf");
  }
  const auto group_sched = kernel_config_value("CONFIG_RT_GROUP_SCHED");
  if (group_sched == "y") {
    r.warn(
        "the kernel has CONFIG_RT_GROUP_SCHED: inside a systemd service SCHED_FIFO fails unless the service's "
        "cgroup is given real-time runtime",
        "set CPUAccounting=no for the service or give its cgroup cpu.rt_runtime_us (docs/DEPLOY.md)");
  } else if (group_sched) {
    r.ok("kernel: no RT_GROUP_SCHED (SCHED_FIFO works inside services)");
  } else {
    r.ok("kernel: its config is not readable (no /proc/config.gz or /boot/config-*); RT_GROUP_SCHED unknown");
  }
}

void check_governor(Report& r) {
  std::vector<std::string> slow;
  int cpus = 0;
  for (int cpu = 0; cpu < 1024; ++cpu) {
    const fs::path gov = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/cpufreq/scaling_governor";
    if (!fs::exists("/sys/devices/system/cpu/cpu" + std::to_string(cpu))) break;
    ++cpus;
    if (!fs::exists(gov)) continue;
    const std::string g = read_first_line(gov);
    if (g != "performance" && g != "schedutil") slow.push_back("cpu" + std::to_string(cpu) + ": " + g);
  }
  if (!fs::exists("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")) {
    r.ok("CPU governor: none exposed (" + std::to_string(cpus) + " CPUs; a VM or a fixed clock)");
  } else if (slow.empty()) {
    r.ok("CPU governor: performance or schedutil on all " + std::to_string(cpus) + " CPUs");
  } else {
    r.warn("CPU governor: " + slow.front() +
               (slow.size() > 1 ? " and " + std::to_string(slow.size() - 1) + " more" : "") +
               " (a slow clock ramp makes the first beats late)",
           "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor");
  }
}

void check_blas(Report& r) {
  const auto rt = engine::runtime_info();
  if (rt.blas.is_reference) {
    r.warn("BLAS: the reference BLAS (" + rt.blas.library_path +
               "): LibTorch is ~8x slower with it (loading and the "
               "CUDA/stock path; the packed live step does not use BLAS)",
           "sudo apt-get install libopenblas0-pthread");
  } else if (rt.blas.library_path.empty()) {
    r.ok("BLAS: none loaded yet");
  } else {
    r.ok("BLAS: " + rt.blas.description);
  }
}

// jack2 keeps each server's files in /dev/shm/jack-<uid>[-<server>]; with
// JACK_PROMISCUOUS_SERVER set on both sides, clients of other users find them.
std::string jack_server_owners() {
  std::string owners;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/dev/shm", ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("jack-") || !entry.is_directory(ec)) continue;
    struct stat st {};
    if (stat(entry.path().c_str(), &st) != 0) continue;
    const passwd* pw = getpwuid(st.st_uid);
    owners += (owners.empty() ? "" : ", ") + name + " (user " +
              (pw != nullptr ? pw->pw_name : std::to_string(st.st_uid)) + ")";
  }
  return owners;
}

void check_midi(Report& r) {
  const auto apis = io::list_midi_ports();
  const auto find = [&](std::string_view api) -> const io::MidiApiPorts* {
    for (const auto& a : apis)
      if (a.api == api) return &a;
    return nullptr;
  };
  const io::MidiApiPorts* jack = find("jack");
  const io::MidiApiPorts* alsa = find("alsa");
  const std::string owners = jack_server_owners();
  const char* promiscuous = std::getenv("JACK_PROMISCUOUS_SERVER");
  if (jack != nullptr && jack->available) {
    r.ok("JACK server reachable (" + std::to_string(jack->inputs.size()) + " MIDI inputs, " +
         std::to_string(jack->outputs.size()) + " outputs seen)" + (owners.empty() ? "" : "; server files: " + owners));
  } else if (!owners.empty() && promiscuous == nullptr) {
    r.warn("JACK: a server runs as another user (" + owners + ") but this process cannot reach it",
           "set JACK_PROMISCUOUS_SERVER=audio for both jackd and nextbeat (the unit does), and put both users in "
           "the audio group");
  } else {
    r.warn("JACK: no server reachable (" + (jack != nullptr ? jack->error : std::string("not compiled in")) + ")",
           "start one (jackd -d alsa, or jackd -d dummy without a sound card; docs/DEPLOY.md), or use ALSA");
  }
  if (fs::exists("/dev/snd/seq")) {
    if (alsa != nullptr && alsa->available) {
      r.ok("ALSA sequencer: /dev/snd/seq (" + std::to_string(alsa->inputs.size()) + " MIDI inputs seen)");
    } else {
      r.warn("ALSA sequencer: /dev/snd/seq exists but cannot be opened" + (alsa != nullptr ? ": " + alsa->error : ""),
             "add the user to the audio group (sudo adduser $USER audio) and log in again");
    }
  } else {
    r.warn("ALSA sequencer: no /dev/snd/seq (no sound card or the snd-seq module is not loaded)",
           "sudo modprobe snd-seq, or use JACK");
  }
  const bool any = (jack != nullptr && jack->available) || (alsa != nullptr && alsa->available);
  if (!any) r.warn("no MIDI API can be opened: nextbeat runs on OSC alone", "see the JACK and ALSA lines above");
}

void check_audio_group(Report& r) {
  if (geteuid() == 0) {
    r.ok("user: root");
    return;
  }
  const group* audio = getgrnam("audio");
  if (audio == nullptr) {
    r.ok("audio group: none on this system");
    return;
  }
  std::vector<gid_t> groups(static_cast<std::size_t>(std::max(1, getgroups(0, nullptr))));
  groups.resize(static_cast<std::size_t>(std::max(0, getgroups(static_cast<int>(groups.size()), groups.data()))));
  if (std::find(groups.begin(), groups.end(), audio->gr_gid) != groups.end() || getegid() == audio->gr_gid) {
    r.ok("user is in the audio group");
  } else {
    r.warn("user is not in the audio group: no /dev/snd access, no real-time limits from it",
           "sudo adduser $USER audio, then log in again");
  }
}

void check_soundfont(Report& r, const config::Config& config) {
  const auto& sf = config.audio.soundfont;
  std::ifstream in(sf, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  if (!in) {
    (config.audio.enabled ? r.fail(std::string("soundfont: cannot read ") + sf + " ([audio] enabled)",
                                   "sudo apt-get install fluid-soundfont-gm, or set [audio] soundfont")
                          : r.warn(std::string("soundfont: cannot read ") + sf + " ([audio] is off, so not needed now)",
                                   "sudo apt-get install fluid-soundfont-gm before setting [audio] enabled = true"));
  } else if (std::string_view(magic, 4) != "RIFF") {
    r.fail("soundfont: " + sf + " is not a RIFF (.sf2/.sf3) file", "point [audio] soundfont at a .sf2 file");
  } else {
    r.ok("soundfont: " + sf);
  }
}

std::uint64_t mem_available_kb() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb;
  return 0;
}

void check_model(Report& r, const config::Config& config) {
  const auto available_kb = mem_available_kb();
  engine::LiveModel live;
  try {
    live = engine::load_live_model(config.model.path, config.model);
  } catch (const std::exception& e) {
    r.fail("model " + config.model.path + ": " + e.what(), "set [model] path to a model file nextbeat can read");
    return;
  }
  r.ok("model " + config.model.path + ": " + live.inference);
  engine::LstmModel& model = *live.model;
  const auto steps = engine::self_sampled_steps(model, 600, 1);
  const auto ns = time_steps(model, steps);
  const double budget_ms = config.engine.latency_budget_ms;
  // The real engine over 400 beats at 240 bpm, as `nextbeat bench` runs it.
  const auto sim = simulate_live(std::move(live.model), config, 400, 240);
  const double rollout_p99_ms = sim["rollout_us"]["p99"].get<double>() / 1000.0;
  const auto misses = sim["deadline_misses"].get<std::uint64_t>();
  char line[320];
  std::snprintf(line, sizeof line,
                "step p50 %.0f us, p99 %.0f us; 400 beats at 240 bpm: beat rollout p99 %.2f ms of the %.1f ms "
                "latency budget, %llu deadline misses",
                engine::percentile_us(ns, 0.5), engine::percentile_us(ns, 0.99), rollout_p99_ms, budget_ms,
                static_cast<unsigned long long>(misses));
  if (misses > 0 || rollout_p99_ms > budget_ms) {
    r.fail(line,
           "raise [engine] latency_budget_ms, use [model] precision = \"fp16\" or \"int8\", a smaller model, "
           "or a faster machine (nextbeat bench measures each)");
  } else if (rollout_p99_ms > budget_ms / 2) {
    r.warn(line, "little headroom: a busy machine will miss beats; try [model] precision = \"fp16\"");
  } else {
    r.ok(line);
  }
  if (available_kb == 0) return;
  const std::uint64_t need_kb = 256 * 1024;  // measured: ~190 MiB resident with the bundled model
  if (available_kb < need_kb) {
    r.warn("memory: " + std::to_string(available_kb / 1024) + " MiB available, nextbeat needs ~256 MiB",
           "stop other programs, or add swap (a model swap needs two models for a moment)");
  } else {
    r.ok("memory: " + std::to_string(available_kb / 1024) + " MiB available");
  }
}

int run_doctor(const std::optional<std::string>& config_path, const std::vector<std::string>& overrides,
               std::ostream& out) {
  config::Config config;
  try {
    config = config_path ? config::load_config_file(*config_path, overrides) : config::default_config(overrides);
  } catch (const config::ConfigError& e) {
    out << "FAIL  config: " << e.what() << "\n      fix: nextbeat check-config shows each error with its line\n";
    return 1;
  }
  Report r(out);
  out << "nextbeat doctor: " << (config_path ? "config " + *config_path : std::string("the built-in defaults")) << '\n';
  check_realtime(r);
  check_governor(r);
  check_audio_group(r);
  check_blas(r);
  check_midi(r);
  check_soundfont(r, config);
  check_model(r, config);
  out << (r.failures() > 0 ? "the live path cannot meet its budget here: " : "the live path can meet its budget here: ")
      << r.failures() << " failed, " << r.warnings() << " warnings\n";
  return r.failures() > 0 ? 1 : 0;
}

}  // namespace

Subcommand add_doctor_command(CLI::App& parent) {
  struct Options {
    std::optional<std::string> config_path;
    std::vector<std::string> overrides;
  };
  auto o = std::make_shared<Options>();
  auto* app = parent.add_subcommand(
      "doctor",
      "Check this machine for live use: real-time scheduling, CPU governor, BLAS, JACK/ALSA, soundfont, "
      "the model's step time against the latency budget, memory. Exit 0: the live path can meet its budget");
  app->add_option("--config,-c", o->config_path, "Config file (TOML); default: the built-in defaults")
      ->check(CLI::ExistingFile);
  app->add_option("-o,--override", o->overrides, "Override a key: -o engine.latency_budget_ms=8");
  return {app, reporting_errors("doctor", [o] { return run_doctor(o->config_path, o->overrides, std::cout); })};
}

}  // namespace nextbeat::daemon
