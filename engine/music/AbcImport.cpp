#include "engine/music/AbcImport.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <system_error>

#include "engine/music/MidiFile.h"
#include "engine/util/Subprocess.h"
#include "engine/util/TempDirectory.h"

namespace nextbeat::engine {
namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxAbcBytes = 64u << 20;
constexpr std::size_t kMaxLogBytes = 64u << 10;  // how much of abc2midi's output we keep for messages

std::string read_text(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw AbcImportError(path.string() + ": cannot read: " + ec.message());
  if (size > kMaxAbcBytes) throw AbcImportError(path.string() + ": larger than 64 MiB; not an ABC file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw AbcImportError(path.string() + ": cannot open: " + std::strerror(errno));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The private directory, with a failure to create it reported as an AbcImportError like every other.
TempDirectory make_temp_directory() {
  try {
    return TempDirectory("nextbeat-abc");
  } catch (const std::system_error& e) {
    throw AbcImportError(e.what());
  }
}

std::string read_log(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string log(kMaxLogBytes, '\0');
  in.read(log.data(), static_cast<std::streamsize>(log.size()));
  log.resize(static_cast<std::size_t>(in.gcount()));
  return log;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs abc2midi with stdin from /dev/null and stdout + stderr into log_path; kills it after the time limit.
void run_abc2midi(const AbcImportOptions& options, const std::vector<std::string>& args, const fs::path& log_path,
                  const std::string& name) {
  std::vector<std::string> argv = {options.abc2midi};
  argv.insert(argv.end(), args.begin(), args.end());
  RunProcessOptions run;
  run.log = log_path;
  run.timeout = std::chrono::seconds(options.timeout_s);
  const ProcessResult result = run_process(argv, run);
  using Status = ProcessResult::Status;
  switch (result.status) {
    case Status::kNotFound:
      throw AbcImportError(name + ": abc2midi not found ('" + options.abc2midi +
                           "' is not on PATH); install the Debian package abcmidi");
    case Status::kSpawnFailed:
      throw AbcImportError(name + ": cannot start '" + options.abc2midi + "': " + std::strerror(result.error));
    case Status::kTimedOut:
      throw AbcImportError(name + ": abc2midi did not finish within " + std::to_string(options.timeout_s) +
                           " s and was stopped");
    case Status::kSignaled:
      throw AbcImportError(name + ": abc2midi was killed by signal " + std::to_string(result.signal) + ": " +
                           trim(read_log(log_path)));
    case Status::kExited:
      if (result.exit_status != 0) {
        throw AbcImportError(name + ": abc2midi failed (exit status " + std::to_string(result.exit_status) +
                             "): " + trim(read_log(log_path)));
      }
      return;
    case Status::kWaitFailed:  // SIGCHLD is ignored, so the child was reaped for us; its files tell the rest
      return;
  }
}

}  // namespace

namespace detail {

// Tunes start at lines "X:<number>" (the ABC standard puts fields at the start of a line).
std::vector<AbcTune> find_abc_tunes(const std::string& text, const std::string& name) {
  std::vector<AbcTune> tunes;
  std::map<int, std::size_t> line_of;
  std::istringstream lines(text);
  std::string line;
  for (std::size_t line_no = 1; std::getline(lines, line); ++line_no) {
    if (line.size() < 2 || line[0] != 'X' || line[1] != ':') continue;
    std::size_t i = 2;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    long number = 0;
    const std::size_t digits_at = i;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9' && number < 100000000) {
      number = number * 10 + (line[i++] - '0');
    }
    if (i == digits_at) {
      throw AbcImportError(name + ":" + std::to_string(line_no) + ": expected a tune number after X:, got '" + line +
                           "'");
    }
    const int x = static_cast<int>(number);
    if (auto [it, fresh] = line_of.emplace(x, line_no); !fresh) {
      throw AbcImportError(name + ":" + std::to_string(line_no) + ": tune number X:" + std::to_string(x) +
                           " is used again (first at line " + std::to_string(it->second) +
                           "); abc2midi writes one file per number, so give each tune its own X:");
    }
    if (!tunes.empty()) tunes.back().last_line = line_no - 1;
    tunes.push_back({x, line_no, static_cast<std::size_t>(-1)});
  }
  if (tunes.empty()) throw AbcImportError(name + ": no tune found (no line starting with X:)");
  return tunes;
}

// abc2midi's messages about one tune: its "Error in line-char L-C" lines with L inside the tune.
std::string abc2midi_errors_of(const AbcTune& tune, const std::string& log) {
  std::istringstream lines(log);
  std::string line;
  std::string out;
  const std::string marker = "Error in line-char ";
  while (std::getline(lines, line)) {
    const auto at = line.find(marker);
    if (at == std::string::npos) continue;
    const std::size_t line_no = std::strtoul(line.c_str() + at + marker.size(), nullptr, 10);
    if (line_no >= tune.first_line && line_no <= tune.last_line) out += (out.empty() ? "" : "; ") + trim(line);
  }
  return out.empty() ? trim(log) : out;
}

}  // namespace detail

std::vector<Score> import_abc_file(const fs::path& path, const AbcImportOptions& options) {
  const std::string name = path.string();
  const std::string text = read_text(path);
  const std::vector<detail::AbcTune> tunes = detail::find_abc_tunes(text, name);

  // abc2midi writes "<stem><X>.mid" next to its input, so it converts a copy inside the private directory;
  // that also keeps odd characters in the user's path out of the output names.
  const TempDirectory dir = make_temp_directory();
  const fs::path abc = dir.path() / "tunes.abc";
  {
    std::ofstream out(abc, std::ios::binary);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out.flush()) throw AbcImportError(name + ": cannot write the temporary copy '" + abc.string() + "'");
  }
  const fs::path log_path = dir.path() / "abc2midi.log";
  run_abc2midi(options, {abc.string(), "-silent"}, log_path, name);
  const std::string log = read_log(log_path);

  std::vector<Score> scores;
  scores.reserve(tunes.size());
  for (const detail::AbcTune& tune : tunes) {
    const std::string source = name + " tune " + std::to_string(tune.number);
    const fs::path mid = dir.path() / ("tunes" + std::to_string(tune.number) + ".mid");
    std::error_code ec;
    if (!fs::exists(mid, ec)) {
      throw AbcImportError(source + " (line " + std::to_string(tune.first_line) +
                           "): abc2midi wrote no MIDI file: " + detail::abc2midi_errors_of(tune, log));
    }
    std::ifstream in(mid, std::ios::binary);
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    try {
      scores.push_back(parse_midi(bytes, source));
    } catch (const MidiFileError& e) {
      throw AbcImportError(std::string("abc2midi wrote a MIDI file that cannot be read: ") + e.what());
    }
  }
  return scores;
}

}  // namespace nextbeat::engine
