// `nextbeat jam`: the live engine, offline, over a file's performer part.
//
// The real LiveEngine plays against the performer part of a file as it would
// live: the same path as the daemon (engine -> OutputScheduler -> sink), the
// same deadlines and fallback, on a clock this code moves. Performer notes go
// in through LiveEngine::handle stamped with their time in the file (through
// the file's tempo map); the engine's internal clock starts at the file's
// first tempo with beat 0 at the file's beat 0, and each later tempo change
// reaches it as the /nextbeat/tempo control would (Control::kTempo at its
// time), so its beats stay on the file's beats.
//
// Time a rollout takes: measured (the default) lets the clock run at the real
// rate while the engine works, so a rollout slower than the latency budget
// on this machine misses its beat as it would live; ideal time stops the
// clock while the engine works (the model costs nothing): nothing misses and
// a run is a pure function of the file, the settings and the seed.
//
// Plain C++ interface; no LibTorch here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/Config.h"
#include "engine/model/Model.h"
#include "engine/music/Score.h"
#include "engine/offline/DuetMetrics.h"

namespace nextbeat::engine {

struct JamOptions {
  // The daemon's settings (mode, sampling, latency budget, fallback, channel).
  // The clock section is taken from the file: internal source, its tempo map,
  // beats per bar from its first time signature; no MIDI clock out.
  config::Config config;
  bool ideal_time = false;  // the model costs no time (deterministic)
  // Split keyboard (config midi.split_note > 0): the file's accompaniment
  // notes below the split are played into the engine too, as the
  // performer's left-hand chord hints. The figures still score against the
  // whole accompaniment and the performer's part alone.
  bool accompaniment_as_hints = false;
};

struct JamEngineStats {
  std::uint64_t beats = 0;        // beats rolled out or decided not to play
  std::uint64_t predictions = 0;  // rollouts in time
  std::uint64_t misses = 0;       // rollouts past their deadline (the fallback played)
  std::uint64_t notes_out = 0;
  std::uint64_t cancels = 0;
  std::uint64_t retuned = 0;   // planned notes moved off a clash with a performer note that came after
  std::uint64_t silenced = 0;  // ... and left silent, with no pitch near to move to
  double rollout_p50_us = 0;
  double rollout_p99_us = 0;
  JamEngineStats& operator+=(const JamEngineStats& o);
};

struct JamRun {
  std::vector<Note> performer;      // the chosen part, as in the file (Note::source 0)
  std::vector<Note> nextbeat;       // as it reached "the synth" (source 1), in file beats
  std::vector<Note> accompaniment;  // the file's other parts (source 1 in the input)
  // Performer on track 1 named "performer", nextbeat on track 2 named
  // "nextbeat", the file's tempo map and time signatures (write_midi_file).
  Score duet;
  JamEngineStats engine;
};

// Plays `score` (roles assigned: Note::source 0 = the performer, anything
// else = the file's accompaniment; see Parts.h) through a LiveEngine built on
// `model` (loaded and warmed up, as load_live_model gives it). Throws
// std::invalid_argument for a file with no performer note or a tempo the live
// clock cannot follow (outside 20..400 bpm).
JamRun run_jam(std::unique_ptr<LstmModel> model, const Score& score, const JamOptions& options);

// The report of one file, or of many pooled (operator+=: sums of counts).
struct JamReport {
  DuetFigures nextbeat;
  DuetFigures random_in_key;  // baseline (a): random pitch classes of the key at nextbeat's onsets
  DuetFigures accompaniment;  // baseline (b): the file's own accompaniment
  JamEngineStats engine;
  int files = 0;
  JamReport& operator+=(const JamReport& o);
};

// The figures of one run; `seed` drives the random baseline.
JamReport jam_report(const JamRun& run, const DuetKey& key, std::uint64_t seed);

// A text table: one row per figure, columns nextbeat | random in-key | accompaniment.
std::string format_jam_report(const JamReport& report);
nlohmann::json to_json(const JamReport& report);

}  // namespace nextbeat::engine
