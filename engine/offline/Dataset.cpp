#include "engine/offline/Dataset.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <system_error>
#include <utility>

#include "engine/codec/EventCodec.h"
#include "engine/codec/PianoRollCodec.h"
#include "engine/music/AbcImport.h"
#include "engine/music/MidiFile.h"
#include "engine/music/PianoRollData.h"
#include "engine/util/Subprocess.h"
#include "engine/util/TempDirectory.h"

namespace nextbeat::engine {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::optional<Split> split_named(const std::string& component) {
  const std::string name = lower(component);
  if (name == "train") return Split::kTrain;
  if (name == "valid" || name == "validation") return Split::kValid;
  if (name == "test") return Split::kTest;
  return std::nullopt;
}

// The last directory of `relative` that names a split, else `inherited`.
std::optional<Split> split_in_dirs(const fs::path& relative, std::optional<Split> inherited) {
  const fs::path dirs = relative.parent_path();
  for (const auto& component : dirs) {
    if (auto split = split_named(component.string())) inherited = split;
  }
  return inherited;
}

enum class Kind { kMidi, kAbc, kJson, kArchive, kOther };

Kind kind_of(const fs::path& path) {
  const std::string name = lower(path.filename().string());
  if (name.ends_with(".tar.gz") || name.ends_with(".tgz")) return Kind::kArchive;
  if (name.ends_with(".mid") || name.ends_with(".midi")) return Kind::kMidi;
  if (name.ends_with(".abc")) return Kind::kAbc;
  if (name.ends_with(".json")) return Kind::kJson;
  return Kind::kOther;
}

// Runs `tar -xzf archive -C into` (argv array, no shell); throws with tar's first error line.
void extract_archive(const fs::path& archive, const fs::path& into, const fs::path& log) {
  RunProcessOptions run;
  run.log = log;
  run.stdout_to_log = false;
  const ProcessResult result = run_process(
      {"tar", "-xzf", archive.string(), "-C", into.string(), "--no-same-owner", "--no-same-permissions"}, run);
  using Status = ProcessResult::Status;
  if (result.status == Status::kNotFound || result.status == Status::kSpawnFailed) {
    throw std::runtime_error(std::string("cannot run tar: ") + std::strerror(result.error));
  }
  if (result.status == Status::kWaitFailed) {
    throw std::runtime_error(std::string("waiting for tar: ") + std::strerror(result.error));
  }
  if (result.succeeded()) return;
  std::string first_line;
  std::ifstream errors(log);
  std::getline(errors, first_line);
  throw std::runtime_error("tar failed (" +
                           (result.status == Status::kExited ? "exit status " + std::to_string(result.exit_status)
                                                             : "signal " + std::to_string(result.signal)) +
                           ")" + (first_line.empty() ? "" : ": " + first_line));
}

class Loader {
 public:
  Loader(const Codec& codec, const DatasetOptions& options, Dataset& dataset)
      : codec_(codec),
        options_(options),
        dataset_(dataset),
        json_steps_per_beat_(options.json_steps_per_beat > 0 ? options.json_steps_per_beat
                                                             : codec.settings().steps_per_beat) {}

  void input(const fs::path& path) {
    std::error_code error;
    const fs::file_status status = fs::status(path, error);
    if (error || !fs::exists(status)) throw DatasetError(path.string() + ": no such file or directory");
    fs::path absolute = fs::absolute(path).lexically_normal();
    if (!absolute.has_filename()) absolute = absolute.parent_path();  // "dir/" names "dir"
    if (fs::is_directory(status)) {
      directory(path, split_named(absolute.filename().string()), /*inside_archive=*/false);
    } else {
      file(path, split_named(absolute.parent_path().filename().string()), /*explicit_input=*/true);
    }
  }

 private:
  // Symbolic links inside an archive are not followed: they could point anywhere.
  void directory(const fs::path& root, std::optional<Split> inherited, bool inside_archive) {
    std::vector<fs::path> files;
    std::error_code error;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, error), end;
    for (; !error && it != end; it.increment(error)) {
      std::error_code type_error;
      if (inside_archive && it->is_symlink(type_error)) continue;
      if (it->is_regular_file(type_error) && kind_of(it->path()) != Kind::kOther &&
          included(it->path().lexically_relative(root))) {
        files.push_back(it->path());
      }
    }
    if (error) skip(root, "cannot read the directory: " + error.message());
    std::sort(files.begin(), files.end());
    for (const auto& path : files) file(path, split_in_dirs(path.lexically_relative(root), inherited), false);
  }

  void file(const fs::path& path, std::optional<Split> split, bool explicit_input) {
    const Kind kind = kind_of(path);
    if (kind == Kind::kOther) {
      if (explicit_input) skip(path, "not a .mid, .midi, .abc, .json, .tar.gz or .tgz file");
      return;
    }
    try {
      switch (kind) {
        case Kind::kMidi:
          add_score(read_midi_file(path), split, path);
          break;
        case Kind::kAbc:
          abc(path, split);
          break;
        case Kind::kJson:
          json(path);
          break;
        case Kind::kArchive:
          archive(path, split);
          return;  // its files count themselves
        case Kind::kOther:
          break;
      }
      ++dataset_.files;
    } catch (const DatasetError&) {
      throw;  // strict mode, from a file inside an archive
    } catch (const std::exception& e) {
      skip(path, e.what());
    }
  }

  void abc(const fs::path& path, std::optional<Split> split) {
    const std::vector<Score> tunes = import_abc_file(path);
    for (std::size_t i = 0; i < tunes.size(); ++i) {
      Score tune = tunes[i];
      if (tune.source.empty()) tune.source = path.string() + " #" + std::to_string(i + 1);
      add_score(std::move(tune), split, path);
    }
  }

  bool included(const fs::path& relative) const {
    if (options_.include.empty() || kind_of(relative) == Kind::kArchive) return true;
    const std::string text = relative.generic_string();
    return std::any_of(options_.include.begin(), options_.include.end(),
                       [&](const std::string& glob) { return fnmatch(glob.c_str(), text.c_str(), 0) == 0; });
  }

  // A score as one sequence, or with roles one per performer part (see DatasetOptions).
  void add_score(Score score, std::optional<Split> split, const fs::path& path) {
    if (!options_.roles) {
      add(codec_.encode(score), split, path);
      return;
    }
    std::set<int> tracks;
    for (const Note& note : score.notes) tracks.insert(note.track);
    const Split where = split.value_or(split_by_hash(path.filename().string(), options_.valid_fraction));
    if (options_.solo != DatasetOptions::Solo::kNone) {
      Score solo = score;
      for (Note& note : solo.notes) note.source = kAccompanimentRole;
      add(codec_.encode(solo), where, path);
      if (options_.solo == DatasetOptions::Solo::kOnly) return;
    }
    if (tracks.size() < 2) {
      if (options_.solo == DatasetOptions::Solo::kNone) {
        warn(readable(score.source.empty() ? path.string() : score.source) +
             ": one part only, nothing of nextbeat's to learn with roles; skipped");
      }
      return;
    }
    const PartMatcher chosen(score, *options_.roles);
    assign_roles(score, *options_.roles);
    add_with_performer(score, where, path, -1);
    if (!options_.rotate_parts || where != Split::kTrain) return;
    for (const int track : tracks) {
      const bool already = std::any_of(score.notes.begin(), score.notes.end(),
                                       [&](const Note& n) { return n.track == track && chosen(n); });
      if (already) continue;
      assign_roles(score, {PartChoice::By::kTrack, track, {}});
      add_with_performer(score, where, path, track);
    }
  }

  // A copy with roles assigned; off_grid_performer moves the performer of
  // half the train copies (`part`: the rotated performer's track, -1 first),
  // chosen by a hash of the file name (an ABC tune's "name.abc #N") and part.
  void add_with_performer(const Score& score, Split where, const fs::path& path, int part) {
    const fs::path name = fs::path(score.source.empty() ? path.string() : score.source).filename();
    const std::uint64_t seed = stable_hash(name.string() + "#" + std::to_string(part));
    if (!options_.off_grid_performer || where != Split::kTrain || (seed >> 63) == 0) {
      add(codec_.encode(score), where, path);
      return;
    }
    Score moved = score;
    move_performer_off_grid(moved, seed);
    add(codec_.encode(moved), where, path);
  }

  void json(const fs::path& path) {
    if (options_.roles) {
      warn(path.string() + ": piano-roll JSON has no parts to give roles to; skipped");
      return;
    }
    PianoRollSplits splits = load_pianoroll_json(path, json_steps_per_beat_);
    const bool frames_as_they_are =
        codec_.settings().kind == CodecKind::kPianoRoll && codec_.settings().steps_per_beat == json_steps_per_beat_;
    std::optional<PianoRollCodec> frames_to_notes;
    if (!frames_as_they_are) {
      CodecSettings settings;
      settings.kind = CodecKind::kPianoRoll;
      settings.steps_per_beat = json_steps_per_beat_;
      frames_to_notes.emplace(settings);
    }
    for (auto& [name, sequences] : splits) {
      const std::optional<Split> split = split_named(name);
      if (!split) {
        warn(path.string() + ": split \"" + name + "\" is not train, valid or test; skipped");
        continue;
      }
      for (auto& sequence : sequences) {
        if (frames_as_they_are) {
          add(std::move(sequence), split, path);
        } else {
          Score score = frames_to_notes->decode(sequence);
          EncodedSequence encoded = codec_.encode(score);
          encoded.source = sequence.source;
          add(std::move(encoded), split, path);
        }
      }
    }
  }

  void archive(const fs::path& path, std::optional<Split> split) {
    const TempDirectory temp("nextbeat-data");
    const fs::path root = temp.path() / "files";
    fs::create_directory(root);
    extract_archive(path, root, temp.path() / "tar-errors.txt");
    // Messages and sources name "<archive>!/<member>", not the temporary copy.
    archives_.push_back({root.string() + "/", readable(path.string()) + "!/"});
    try {
      directory(root, split, /*inside_archive=*/true);
    } catch (...) {
      archives_.pop_back();
      throw;
    }
    archives_.pop_back();
  }

  std::string readable(std::string text) const {
    for (auto it = archives_.rbegin(); it != archives_.rend(); ++it) {
      for (std::size_t at = text.find(it->first); at != std::string::npos; at = text.find(it->first, at)) {
        text.replace(at, it->first.size(), it->second);
        at += it->second.size();
      }
    }
    return text;
  }

  void add(EncodedSequence sequence, std::optional<Split> split, const fs::path& path) {
    sequence.source = readable(sequence.source.empty() ? path.string() : std::move(sequence.source));
    if (sequence.steps.empty()) {
      warn(sequence.source + ": no notes that the codec can represent; skipped");
      return;
    }
    switch (split.value_or(split_by_hash(path.filename().string(), options_.valid_fraction))) {
      case Split::kTrain:
        dataset_.train.push_back(std::move(sequence));
        break;
      case Split::kValid:
        dataset_.valid.push_back(std::move(sequence));
        break;
      case Split::kTest:
        dataset_.test.push_back(std::move(sequence));
        break;
    }
  }

  void skip(const fs::path& path, const std::string& why) {
    // Most errors already start with the file name; say it once.
    std::string message = readable(why.starts_with(path.string() + ": ") ? why : path.string() + ": " + why);
    if (options_.strict) throw DatasetError(message);
    ++dataset_.failed_files;
    warn(std::move(message));
  }

  void warn(std::string message) { dataset_.warnings.push_back(readable(std::move(message))); }

  const Codec& codec_;
  const DatasetOptions& options_;
  Dataset& dataset_;
  int json_steps_per_beat_;
  std::vector<std::pair<std::string, std::string>> archives_;  // extracted root + "/" -> "<archive>!/"
};

}  // namespace

void move_performer_off_grid(Score& score, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  // Uniform in [0, 1) from the top 53 bits: the same on every library.
  const auto unit = [&random] { return static_cast<double>(random() >> 11) * 0x1.0p-53; };
  constexpr double kJitterBeats = 0.1;
  const double offset = unit() - 0.5;
  for (Note& note : score.notes) {
    if (note.source != kPerformerRole) continue;
    const double duration = note.end_beat - note.start_beat;
    note.start_beat = std::max(0.0, note.start_beat + offset + (2 * unit() - 1) * kJitterBeats);
    note.end_beat = note.start_beat + duration;
  }
}

std::uint64_t stable_hash(std::string_view text) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

Split split_by_hash(std::string_view file_name, double valid_fraction) noexcept {
  // The top 53 bits as a fraction in [0, 1): FNV-1a's low bits mix poorly.
  const double unit = static_cast<double>(stable_hash(file_name) >> 11) * 0x1.0p-53;
  return unit < valid_fraction ? Split::kValid : Split::kTrain;
}

Split split_of(const std::filesystem::path& relative_path, double valid_fraction) {
  return split_in_dirs(relative_path, std::nullopt)
      .value_or(split_by_hash(relative_path.filename().string(), valid_fraction));
}

Dataset load_dataset(const std::vector<std::filesystem::path>& inputs, const Codec& codec,
                     const DatasetOptions& options) {
  Dataset dataset;
  Loader loader(codec, options, dataset);
  for (const auto& input : inputs) loader.input(input);
  return dataset;
}

EncodedSequence transpose(const EncodedSequence& sequence, int semitones, const Codec& codec) {
  return codec.transpose(sequence, semitones);
}

}  // namespace nextbeat::engine
