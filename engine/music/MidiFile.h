// Standard MIDI Files (SMF) to and from Score: our own reader and writer, no libsmf.
//
// Reading (format 0, 1 and 2; any ticks-per-quarter-note resolution):
// - Times become quarter-note beats, beat = tick / ticks_per_beat, whatever the tempo. The tempo map and the
//   time signatures are kept, at beat positions, in Score::tempo_map and Score::time_signatures.
// - Note::track is the index of the 'MTrk' chunk the note came from (0-based; unknown chunks are not counted).
//   Format 2 tracks are independent patterns: they are laid one after another in time, each starting where the
//   previous one ended.
// - A note-on with velocity 0 is a note-off. Overlapping notes of one pitch on one channel are paired first in,
//   first out: a note-off ends the oldest sounding note of that pitch. FIFO keeps the common "new note-on, then
//   the old note's note-off, at the same tick" order right, where LIFO would end the new note at once.
// - A note-off at the very tick of its note-on gives a note one tick long (it was struck, like a drum hit), so
//   that end_beat > start_beat always holds. Notes still sounding at the end of their track end there.
// - Drum notes (channel 9) are kept; the codec decides what to do with them.
// - Running status is followed; meta and sysex events do not cancel it (as most readers do; a correct file
//   never relies on either behaviour). Sysex (F0/F7) and meta events other than tempo, time signature and end
//   of track are skipped.
// - SMPTE time division is rejected: a Score is in beats, and such a file has none.
//
// Files are a boundary: every malformed input throws MidiFileError naming the file, the byte offset and what
// was expected. Parsing never reads outside the input, always ends, and allocates in proportion to the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/music/Score.h"

namespace nextbeat::engine {

class MidiFileError : public std::runtime_error {
 public:
  // A parse error: "<source>: byte <byte_offset>: <what>".
  MidiFileError(const std::string& source, std::size_t byte_offset, const std::string& what);
  // An error that no byte offset locates (I/O, a score that cannot be written): "<source>: <what>".
  MidiFileError(const std::string& source, const std::string& what);

  const std::string& source() const noexcept { return source_; }
  std::optional<std::size_t> byte_offset() const noexcept { return byte_offset_; }

 private:
  std::string source_;
  std::optional<std::size_t> byte_offset_;
};

// Limits that keep a hostile or corrupt file from costing unbounded memory or time, here or in what reads the
// Score (a codec turns every beat of silence into steps). Real music is far inside them.
// - Files larger than kMaxMidiFileBytes are refused before they are read (the largest real MIDI files are a
//   few MB), as are files that are not regular files (a FIFO, /dev/zero, a directory).
// - An event later than kMaxMidiBeats quarter notes from the start (9 hours at 120 bpm) is refused, naming its
//   delta time's byte: a 37-byte file with division 1 and one delta of 0x0FFFFFFF would otherwise be a
//   268-million-beat score.
// - More than kMaxMidiNotes notes in a file are refused, naming the byte of the note that is one too many.
// - At most kMaxStackedNotes notes of one pitch on one channel sound at once: a note-on beyond that ends the
//   oldest of them at its tick, as if re-struck (a drum track of note-ons without note-offs stays readable).
constexpr std::uintmax_t kMaxMidiFileBytes = 16u << 20;
constexpr std::uint64_t kMaxMidiBeats = 1u << 16;
constexpr std::size_t kMaxMidiNotes = 1u << 19;
constexpr std::size_t kMaxStackedNotes = 128;

// Reads and parses a .mid file; Score::source is the path. Throws MidiFileError.
Score read_midi_file(const std::filesystem::path& path);

// Parses SMF bytes; source_name names the input in Score::source and in error messages. Throws MidiFileError.
Score parse_midi(std::span<const std::uint8_t> bytes, std::string source_name);

// Encodes a score as a format 1 SMF with ticks_per_beat (1..32767) ticks per quarter note. Beats are rounded
// to the nearest tick; a note shorter than a tick after rounding is made one tick long.
// Layout: track 0 holds the tempo map and the time signatures (and no notes). Then one track per (Note::track,
// channel) group, in ascending order. A group is written at index Note::track when that index is still free
// (empty tracks fill any gap), else at the next free index; so a score read from a conventional format 1
// file (tempo track 0, one channel per track) keeps its track indices through a write and a read, and
// notes from a format 0 file get one track per channel.
// Throws MidiFileError (naming score.source) when the score cannot be written: a pitch, velocity, channel or
// track out of range, end_beat <= start_beat, a negative or absurdly late beat, a tempo <= 0, or a time
// signature whose denominator is not a power of two.
std::vector<std::uint8_t> serialize_midi(const Score& score, int ticks_per_beat = 480);

// Writes serialize_midi(score, ticks_per_beat) atomically (engine/util/AtomicFile.h: a new, unpredictable
// temporary file in the same directory, fsync, rename over path), so a kill leaves either the old file or the
// new one, never half of one, and a symlink planted at a temporary name is never followed.
// Throws MidiFileError (naming the path) on any failure; the temporary file is removed.
void write_midi_file(const std::filesystem::path& path, const Score& score, int ticks_per_beat = 480);

}  // namespace nextbeat::engine
