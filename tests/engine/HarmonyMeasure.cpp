// A measuring harness, not a test (no ctest entry): the live engine on the
// fake-clock rig (LiveFakes.h) in accompany mode over the melodies of
// two-track MIDI files (Nottingham jukedeck: one track melody, the next
// chords), scoring what nextbeat plays against the file's own chord track.
// Until `nextbeat jam` lands this is how sampling.key = "auto" and
// sampling.chord_follow were measured (README, docs/CONTROLS.md).
//
//   engine_harmony_measure DIR [files] [beats] [key=auto] [chord_follow=W] [split=N] [seed=S]
//
// DIR holds .mid files (sorted by name; the first `files` are used, 0 = all),
// each played for its first `beats` beats at 120 bpm. Prints the pooled
// figures: note-in-chord (nextbeat's onsets whose pitch class is in the
// chord sounding then), clash rate (onsets a semitone, tritone or major 7th
// from the sounding melody note), in-key ratio (against the tune's
// Krumhansl-Schmuckler key) and notes per beat. split=N: the chord track,
// moved below N, is played as the performer's chord hints as well.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "LiveFakes.h"
#include "engine/music/MidiFile.h"
#include "engine/music/MusicTheory.h"

using namespace nextbeat;
using namespace nextbeat::engine;

namespace {

constexpr std::int64_t kBeatNs = 500'000'000;  // 120 bpm
constexpr double kLead = 1.0;                  // the tune starts at the engine's beat 1

struct Totals {
  double notes = 0, with_chord = 0, in_chord = 0, with_melody = 0, clashes = 0, in_key = 0, beats = 0;
  double misses = 0, files = 0;
};

bool sounding_at(const Note& n, double beat) {
  return n.start_beat <= beat + 1e-6 && beat + 1e-6 < n.end_beat;
}

void measure(const std::filesystem::path& file, double beats, const config::Config& config, int split, Totals& t) {
  const Score score = read_midi_file(file);
  std::vector<int> tracks;
  for (const Note& n : score.notes)
    if (std::find(tracks.begin(), tracks.end(), n.track) == tracks.end()) tracks.push_back(n.track);
  std::sort(tracks.begin(), tracks.end());
  if (tracks.size() < 2) return;
  std::vector<Note> melody, chords;
  for (const Note& n : score.notes) {
    if (n.start_beat >= beats) continue;
    (n.track == tracks[0] ? melody : n.track == tracks[1] ? chords : melody).push_back(n);
  }
  if (melody.empty() || chords.empty()) return;
  PitchClassHistogram hist{};
  for (const Note& n : melody) hist[static_cast<std::size_t>(n.pitch % 12)] += n.end_beat - n.start_beat;
  const auto key = estimate_key(hist);

  struct Ev {
    double beat;
    bool on;
    int pitch;
  };
  std::vector<Ev> events;
  for (const Note& n : melody) {
    events.push_back({n.start_beat, true, n.pitch});
    events.push_back({std::min(n.end_beat, beats), false, n.pitch});
  }
  if (split > 0) {
    for (const Note& n : chords) {
      int p = n.pitch;
      while (p >= split) p -= 12;
      if (p < 0) continue;
      events.push_back({n.start_beat, true, p});
      events.push_back({std::min(n.end_beat, beats), false, p});
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const Ev& a, const Ev& b) {
    return a.beat != b.beat ? a.beat < b.beat : (!a.on && b.on);  // offs first at a tick
  });

  test::LiveRig rig(config);
  const std::int64_t t0 = test::FakeClock::kStartNs;
  const auto time_of = [&](double b) { return t0 + static_cast<std::int64_t>((b + kLead) * kBeatNs); };
  for (const Ev& e : events) {
    rig.run_until(std::max(rig.clock.t(), time_of(e.beat)));
    rig.input(e.on ? InputKind::kNoteOn : InputKind::kNoteOff, e.pitch, 90);
  }
  rig.run_until(time_of(beats));
  for (const auto& e : rig.recorder.events) {
    if (e.kind != OutputKind::kNoteOn) continue;
    const double b = static_cast<double>(e.time_ns - t0) / kBeatNs - kLead;
    if (b < 0 || b >= beats) continue;
    const int pc = e.pitch % 12;
    t.notes += 1;
    bool any_chord = false, in = false, any_melody = false, clash = false;
    for (const Note& c : chords)
      if (sounding_at(c, b)) {
        any_chord = true;
        in = in || c.pitch % 12 == pc;
      }
    for (const Note& m : melody)
      if (sounding_at(m, b)) {
        any_melody = true;
        const int i = ((e.pitch - m.pitch) % 12 + 12) % 12;
        clash = clash || i == 1 || i == 6 || i == 11;
      }
    t.with_chord += any_chord;
    t.in_chord += any_chord && in;
    t.with_melody += any_melody;
    t.clashes += any_melody && clash;
    if (key) t.in_key += in_scale(e.pitch, key->key_pc, key->scale);
  }
  t.beats += beats;
  t.misses += static_cast<double>(rig.engine->stats().misses.load());
  t.files += 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [files] [beats] [key=auto] [chord_follow=W] [split=N] [seed=S]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const std::size_t max_files = argc > 2 ? std::stoul(argv[2]) : 0;
  const double beats = argc > 3 ? std::stod(argv[3]) : 48;
  config::Config config;
  config.engine.mode = config::Mode::kAccompany;
  config.engine.latency_budget_ms = 50;  // the fake clock stands still while the model computes
  config.sampling.seed = 1;
  int split = 0;
  for (int i = 4; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    const std::string k = a.substr(0, eq), v = a.substr(eq + 1);
    if (k == "key") config.sampling.key = v == "auto" ? config::kKeyAuto : -1;
    if (k == "chord_follow") config.sampling.chord_follow = std::stod(v);
    if (k == "split") split = std::stoi(v);
    if (k == "seed") config.sampling.seed = std::stoll(v);
  }
  config.midi.split_note = split;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".mid") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (max_files > 0 && files.size() > max_files) files.resize(max_files);
  Totals t;
  for (const auto& f : files) measure(f, beats, config, split, t);
  std::printf(
      "files %.0f beats %.0f notes %.0f | in_chord %.3f | clash %.3f | in_key %.3f | notes/beat %.2f | misses %.0f\n",
      t.files, t.beats, t.notes, t.in_chord / std::max(1.0, t.with_chord), t.clashes / std::max(1.0, t.with_melody),
      t.in_key / std::max(1.0, t.notes), t.notes / std::max(1.0, t.beats), t.misses);
  return 0;
}
