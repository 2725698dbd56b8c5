#include "engine/music/MidiFile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <system_error>
#include <tuple>
#include <utility>

#include "engine/music/SmfBytes.h"
#include "engine/util/AtomicFile.h"

namespace nextbeat::engine {
namespace {

// A track name as kept in Score::track_names: at most 64 bytes, printable ASCII as it is, anything else
// (control bytes, other encodings) as '?', so that a name is safe to print and to match.
std::string track_name_text(std::span<const std::uint8_t> bytes) {
  constexpr std::size_t kMaxNameBytes = 64;
  std::string name;
  for (std::size_t i = 0; i < bytes.size() && i < kMaxNameBytes; ++i) {
    name += bytes[i] >= 0x20 && bytes[i] < 0x7F ? static_cast<char>(bytes[i]) : '?';
  }
  return name;
}

std::string hex_byte(std::uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(b));
  return buf;
}

// A chunk id as text for messages: printable characters as they are, others as \xHH.
std::string quote_id(std::span<const std::uint8_t> id) {
  std::string out = "'";
  for (std::uint8_t b : id) {
    if (b >= 0x20 && b < 0x7F && b != '\'' && b != '\\') {
      out += static_cast<char>(b);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(b));
      out += buf;
    }
  }
  return out + "'";
}

bool id_is(std::span<const std::uint8_t> id, const char (&name)[5]) {
  return std::equal(id.begin(), id.end(), name, name + 4,
                    [](std::uint8_t b, char c) { return b == static_cast<std::uint8_t>(c); });
}

// The SMF spec asks readers to skip chunks they do not know. Only ids that look like names are taken for such
// chunks; anything else is corruption and is reported.
bool looks_like_chunk_name(std::span<const std::uint8_t> id) {
  return std::all_of(id.begin(), id.end(), [](std::uint8_t b) {
    return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == ' ' || b == '_';
  });
}

// Reads big-endian fields and variable-length quantities from bytes [pos, end). Offsets are absolute in the
// whole input, so messages point at the right byte wherever the reader is limited to one chunk.
class ByteReader {
 public:
  ByteReader(std::span<const std::uint8_t> bytes, std::size_t pos, std::size_t end, const std::string& source,
             const char* end_name)
      : bytes_(bytes), pos_(pos), end_(end), source_(source), end_name_(end_name) {}

  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return end_ - pos_; }
  bool at_end() const { return pos_ >= end_; }

  [[noreturn]] void fail(std::size_t offset, const std::string& what) const {
    throw MidiFileError(source_, offset, what);
  }

  std::uint8_t u8(const char* what) {
    if (pos_ >= end_) fail(pos_, std::string("expected ") + what + ", got the end of " + end_name_);
    return bytes_[pos_++];
  }

  std::uint32_t u16(const char* what) {
    need(2, what);
    const std::uint32_t v = (std::uint32_t{bytes_[pos_]} << 8) | bytes_[pos_ + 1];
    pos_ += 2;
    return v;
  }

  std::uint32_t u32(const char* what) {
    need(4, what);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | bytes_[pos_ + static_cast<std::size_t>(i)];
    pos_ += 4;
    return v;
  }

  std::span<const std::uint8_t> take(std::size_t n, const char* what) {
    need(n, what);
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  // A variable-length quantity: at most 4 bytes (28 bits), as the SMF spec requires.
  std::uint32_t vlq(const char* what) {
    const std::size_t start = pos_;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const std::uint8_t b = u8(what);
      v = (v << 7) | (b & 0x7Fu);
      if ((b & 0x80u) == 0) return v;
    }
    fail(start, std::string("expected ") + what + " (a variable-length quantity of at most 4 bytes), got more");
  }

 private:
  void need(std::size_t n, const char* what) const {
    if (remaining() < n) {
      fail(pos_, std::string("expected ") + what + " (" + std::to_string(n) + " bytes), got only " +
                     std::to_string(remaining()) + " before the end of " + end_name_);
    }
  }

  std::span<const std::uint8_t> bytes_;
  std::size_t pos_;
  std::size_t end_;
  const std::string& source_;
  const char* end_name_;
};

struct OpenNote {
  std::uint64_t tick = 0;
  int velocity = 0;
};

// The sounding notes of one (channel, pitch), oldest first. A vector and a read index rather than a
// std::deque: 2048 of these are made per file, and an empty vector allocates nothing.
struct OpenQueue {
  std::vector<OpenNote> notes;
  std::size_t head = 0;

  bool empty() const { return head == notes.size(); }
  void clear() {
    notes.clear();
    head = 0;
  }
  // Drops ended notes once there are kMaxStackedNotes of them (amortised O(1) a note), so that a queue never
  // holds more than twice the notes that may sound at once.
  void compact() {
    if (head < kMaxStackedNotes) return;
    notes.erase(notes.begin(), notes.begin() + static_cast<std::ptrdiff_t>(head));
    head = 0;
  }
};

struct TimedTempo {
  std::uint64_t tick = 0;
  double bpm = 120;
};

struct TimedSignature {
  std::uint64_t tick = 0;
  int numerator = 4;
  int denominator = 4;
};

class Parser {
 public:
  Parser(std::span<const std::uint8_t> bytes, std::string source)
      : bytes_(bytes), source_(std::move(source)), open_(16 * 128) {}

  Score run() {
    ByteReader file(bytes_, 0, bytes_.size(), source_, "the file");
    read_header(file);

    std::uint32_t tracks_read = 0;
    std::string skipped;  // the first unknown chunk and a count, named when tracks then run out
    std::size_t skipped_count = 0;
    while (tracks_read < track_count_) {
      const std::size_t chunk_at = file.pos();
      if (file.at_end()) {
        file.fail(chunk_at, "expected track chunk " + std::to_string(tracks_read + 1) + " of " +
                                std::to_string(track_count_) + " ('MTrk'), got the end of the file" +
                                (skipped_count == 0 ? std::string()
                                                    : " (skipped " + std::to_string(skipped_count) +
                                                          " unknown chunk(s), the first " + skipped + ")"));
      }
      const auto id = file.take(4, "a chunk id");
      const std::uint32_t length = file.u32("a chunk length");
      if (length > file.remaining()) {
        file.fail(chunk_at + 4, "chunk length " + std::to_string(length) + " runs past the end of the file (" +
                                    std::to_string(file.remaining()) + " bytes left)");
      }
      const std::size_t body = file.pos();
      if (id_is(id, "MTrk")) {
        read_track(body, body + length, static_cast<int>(tracks_read));
        ++tracks_read;
      } else if (looks_like_chunk_name(id)) {
        if (skipped_count++ == 0) skipped = quote_id(id) + " at byte " + std::to_string(chunk_at);
      } else {
        file.fail(chunk_at, "expected a track chunk 'MTrk', got " + quote_id(id));
      }
      file.take(length, "the chunk body");
    }
    // Bytes after the last announced track are ignored: padding there is common in real files.
    return finish();
  }

 private:
  void read_header(ByteReader& file) {
    if (file.remaining() < 4 || !id_is(file.take(4, "a header chunk 'MThd'"), "MThd")) {
      const auto head = bytes_.first(std::min<std::size_t>(4, bytes_.size()));
      file.fail(0, "expected a header chunk 'MThd', got " +
                       (head.empty() ? std::string("an empty file") : quote_id(head)) + " (not a MIDI file?)");
    }
    const std::uint32_t length = file.u32("the header length");
    if (length < 6) file.fail(4, "expected a header length of at least 6, got " + std::to_string(length));
    if (length > file.remaining()) {
      file.fail(4, "header length " + std::to_string(length) + " runs past the end of the file (" +
                       std::to_string(file.remaining()) + " bytes left)");
    }
    format_ = file.u16("the format");
    if (format_ > 2) file.fail(8, "expected format 0, 1 or 2, got " + std::to_string(format_));
    track_count_ = file.u16("the number of tracks");
    if (track_count_ == 0) file.fail(10, "expected at least one track, got 0");
    const std::uint32_t division = file.u16("the time division");
    if ((division & 0x8000u) != 0) {
      const int fps = 256 - static_cast<int>(division >> 8);
      file.fail(12, "SMPTE time division (" + std::to_string(fps) + " frames/s, " + std::to_string(division & 0xFFu) +
                        " ticks/frame) is not supported; expected ticks per quarter note");
    }
    if (division == 0) file.fail(12, "expected a positive number of ticks per quarter note, got 0");
    ticks_per_beat_ = static_cast<int>(division);
    max_tick_ = kMaxMidiBeats * division;
    file.take(length - 6, "the rest of the header");
  }

  void read_track(std::size_t begin, std::size_t end, int track) {
    ByteReader in(bytes_, begin, end, source_, "the track chunk");
    // Format 2 tracks are independent sequences: each one starts where the previous one ended.
    std::uint64_t tick = format_ == 2 ? track_start_tick_ : 0;
    std::uint8_t running = 0;
    while (!in.at_end()) {
      const std::size_t delta_at = in.pos();
      tick += in.vlq("a delta time");
      if (tick > max_tick_) {
        in.fail(delta_at, "expected an event within " + std::to_string(kMaxMidiBeats) +
                              " beats of the start (9 hours at 120 bpm), got one at beat " +
                              std::to_string(tick / static_cast<std::uint64_t>(ticks_per_beat_)) +
                              " (a corrupt delta time?)");
      }
      const std::size_t status_at = in.pos();
      std::uint8_t status = in.u8("a status byte");
      std::optional<std::uint8_t> first_data;
      if (status < 0x80) {
        if (running == 0) {
          in.fail(status_at,
                  "expected a status byte (>= 0x80), got data byte " + hex_byte(status) + " with no running status");
        }
        first_data = status;
        status = running;
      } else if (status < 0xF0) {
        running = status;
      }
      auto data = [&](const char* what) -> int {
        if (first_data) return *std::exchange(first_data, std::nullopt);
        const std::size_t at = in.pos();
        const std::uint8_t b = in.u8(what);
        if (b >= 0x80) in.fail(at, std::string("expected ") + what + " (a data byte < 0x80), got " + hex_byte(b));
        return b;
      };

      if (status < 0xF0) {
        const int channel = status & 0x0F;
        switch (status & 0xF0) {
          case 0x80: {
            const int pitch = data("a note-off pitch");
            data("a note-off velocity");
            note_off(channel, pitch, tick, track, in, status_at);
            break;
          }
          case 0x90: {
            const int pitch = data("a note-on pitch");
            const int velocity = data("a note-on velocity");
            if (velocity == 0) {
              note_off(channel, pitch, tick, track, in, status_at);
            } else {
              note_on(channel, pitch, velocity, tick, track, in, status_at);
            }
            break;
          }
          case 0xA0:
          case 0xB0:
          case 0xE0:
            data("a data byte");
            data("a second data byte");
            break;
          default:  // 0xC0 program change, 0xD0 channel pressure
            data("a data byte");
            break;
        }
      } else if (status == 0xF0 || status == 0xF7) {
        const std::uint32_t length = in.vlq("a sysex length");
        skip(in, length, "sysex");
      } else if (status == 0xFF) {
        const std::uint8_t type = in.u8("a meta event type");
        const std::size_t length_at = in.pos();
        const std::uint32_t length = in.vlq("a meta event length");
        if (type == 0x2F) {
          skip(in, length, "end-of-track");
          break;  // anything after end-of-track in the chunk is ignored
        }
        if (type == 0x51) {
          if (length != 3) in.fail(length_at, "expected tempo length 3, got " + std::to_string(length));
          const auto b = in.take(3, "the tempo");
          const std::uint32_t us_per_beat = (std::uint32_t{b[0]} << 16) | (std::uint32_t{b[1]} << 8) | b[2];
          if (us_per_beat == 0) in.fail(length_at + 1, "expected a tempo > 0 microseconds per beat, got 0");
          tempos_.push_back({tick, 60e6 / us_per_beat});
        } else if (type == 0x58) {
          if (length < 2) {
            in.fail(length_at, "expected time signature length 4, got " + std::to_string(length));
          }
          const std::size_t at = in.pos();
          const auto b = in.take(length, "the time signature");
          // dd is the power of two of the denominator: beyond 1/128 notes it is corruption.
          if (b[0] == 0 || b[1] > 7) {
            in.fail(at, "expected a time signature n/2^d with n > 0 and d <= 7, got " + std::to_string(b[0]) + "/2^" +
                            std::to_string(b[1]));
          }
          signatures_.push_back({tick, b[0], 1 << b[1]});
        } else if (type == 0x03 && !track_names_.contains(track)) {
          const auto b = in.take(length, "the track name");
          track_names_.emplace(track, track_name_text(b));
        } else {
          skip(in, length, "meta event");
        }
      } else {
        in.fail(status_at, "expected a channel, meta (0xFF) or sysex (0xF0/0xF7) status byte, got " + hex_byte(status) +
                               ", which does not belong in a MIDI file");
      }
    }
    // A missing end-of-track event is tolerated when the chunk ends between events.
    close_open_notes(tick, track, in);
    track_start_tick_ = tick;
  }

  static void skip(ByteReader& in, std::uint32_t length, const char* what) {
    if (length > in.remaining()) {
      in.fail(in.pos(), std::string(what) + " length " + std::to_string(length) +
                            " runs past the end of the track chunk (" + std::to_string(in.remaining()) +
                            " bytes left)");
    }
    in.take(length, what);
  }

  // `in` and `at` (the event's status byte, or its first data byte under running status) locate an error.
  void note_on(int channel, int pitch, int velocity, std::uint64_t tick, int track, const ByteReader& in,
               std::size_t at) {
    const auto key = static_cast<std::size_t>(channel * 128 + pitch);
    auto& queue = open_[key];
    if (queue.notes.empty()) touched_.push_back(key);
    if (queue.notes.size() - queue.head >= kMaxStackedNotes) {
      add_note(channel, pitch, queue.notes[queue.head++], tick, track, in, at);  // ends the oldest, as re-struck
    }
    queue.compact();
    queue.notes.push_back({tick, velocity});
  }

  void note_off(int channel, int pitch, std::uint64_t tick, int track, const ByteReader& in, std::size_t at) {
    auto& queue = open_[static_cast<std::size_t>(channel * 128 + pitch)];
    if (queue.empty()) return;  // a stray note-off ends nothing
    add_note(channel, pitch, queue.notes[queue.head++], tick, track, in, at);
    if (queue.empty()) queue.clear();  // keeps memory to the notes sounding at once, not all notes so far
    queue.compact();
  }

  void close_open_notes(std::uint64_t tick, int track, const ByteReader& in) {
    for (std::size_t key : touched_) {
      auto& queue = open_[key];
      for (std::size_t i = queue.head; i < queue.notes.size(); ++i) {
        add_note(static_cast<int>(key / 128), static_cast<int>(key % 128), queue.notes[i], tick, track, in, in.pos());
      }
      queue.clear();
    }
    touched_.clear();
  }

  void add_note(int channel, int pitch, const OpenNote& open, std::uint64_t end_tick, int track, const ByteReader& in,
                std::size_t at) {
    if (notes_.size() >= kMaxMidiNotes) {
      in.fail(at, "expected at most " + std::to_string(kMaxMidiNotes) + " notes in a file, got more");
    }
    Note note;
    note.pitch = pitch;
    note.velocity = open.velocity;
    note.channel = channel;
    note.track = track;
    note.start_beat = beat(open.tick);
    note.end_beat = beat(std::max(end_tick, open.tick + 1));
    notes_.push_back(note);
  }

  double beat(std::uint64_t tick) const { return static_cast<double>(tick) / ticks_per_beat_; }

  Score finish() {
    Score score;
    score.source = source_;
    score.ticks_per_beat = ticks_per_beat_;
    score.notes = std::move(notes_);
    score.sort_notes();
    // Names only for tracks that exist (one entry per track up to the last named one).
    if (!track_names_.empty()) {
      score.track_names.resize(static_cast<std::size_t>(track_names_.rbegin()->first) + 1);
      for (auto& [track, name] : track_names_) score.track_names[static_cast<std::size_t>(track)] = std::move(name);
    }

    // Tempo and time signature events may sit in any track; at one tick the last one read wins. The defaults
    // (120 bpm, 4/4) hold until the first event; a change to the value already in force is dropped, so that
    // a written and re-read score has the same maps.
    std::stable_sort(tempos_.begin(), tempos_.end(), [](const auto& a, const auto& b) { return a.tick < b.tick; });
    score.tempo_map = {TempoChange{0, 120}};
    for (const auto& t : tempos_) {
      auto& map = score.tempo_map;
      const double at = beat(t.tick);
      if (map.back().beat == at) map.pop_back();
      if (map.empty() || map.back().bpm != t.bpm) map.push_back({at, t.bpm});
    }

    std::stable_sort(signatures_.begin(), signatures_.end(),
                     [](const auto& a, const auto& b) { return a.tick < b.tick; });
    score.time_signatures = {TimeSignature{0, 4, 4}};
    for (const auto& s : signatures_) {
      auto& sigs = score.time_signatures;
      const double at = beat(s.tick);
      if (sigs.back().beat == at) sigs.pop_back();
      if (sigs.empty() || sigs.back().numerator != s.numerator || sigs.back().denominator != s.denominator) {
        sigs.push_back({at, s.numerator, s.denominator});
      }
    }
    return score;
  }

  std::span<const std::uint8_t> bytes_;
  std::string source_;
  std::uint32_t format_ = 1;
  std::uint32_t track_count_ = 0;
  int ticks_per_beat_ = 480;
  std::uint64_t track_start_tick_ = 0;
  std::uint64_t max_tick_ = 0;        // kMaxMidiBeats in ticks
  std::vector<OpenQueue> open_;       // by channel * 128 + pitch
  std::vector<std::size_t> touched_;  // keys with open notes, so closing costs no sweep of all keys
  std::vector<Note> notes_;
  std::map<int, std::string> track_names_;  // the first track_name meta event of each track
  std::vector<TimedTempo> tempos_;
  std::vector<TimedSignature> signatures_;
};

// ---------------------------------------------------------------------------------------------------------
// Writing

// The largest absolute tick written: every delta then fits a 4-byte variable-length quantity.
constexpr std::int64_t kMaxTick = 0x0FFFFFFF;

using smf::put_u16;
using smf::put_u32;
using smf::put_vlq;

struct TrackEvent {
  std::int64_t tick = 0;
  int order = 0;  // at one tick: the track name (-1), note-offs (0), then note-ons (1), so a re-struck note is not cut
  std::int64_t pair_key = 0;        // keeps FIFO pairing on reading: ons by end tick, offs by start tick
  std::vector<std::uint8_t> bytes;  // status and data, or FF type length data
};

// Appends one MTrk chunk; channel events use running status (reset after a meta event).
void put_track(std::vector<std::uint8_t>& out, std::vector<TrackEvent> events) {
  std::stable_sort(events.begin(), events.end(), [](const TrackEvent& a, const TrackEvent& b) {
    return std::tie(a.tick, a.order, a.pair_key) < std::tie(b.tick, b.order, b.pair_key);
  });
  std::vector<std::uint8_t> body;
  std::int64_t tick = 0;
  std::uint8_t running = 0;
  for (const auto& event : events) {
    put_vlq(body, static_cast<std::uint32_t>(event.tick - tick));
    tick = event.tick;
    const std::uint8_t status = event.bytes.front();
    const bool channel_event = status < 0xF0;
    const bool omit_status = channel_event && status == running;
    body.insert(body.end(), event.bytes.begin() + (omit_status ? 1 : 0), event.bytes.end());
    running = channel_event ? status : 0;
  }
  body.insert(body.end(), {0x00, 0xFF, 0x2F, 0x00});  // end of track, at the last event
  out.insert(out.end(), {'M', 'T', 'r', 'k'});
  put_u32(out, static_cast<std::uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
}

std::vector<std::uint8_t> serialize(const Score& score, int ticks_per_beat, const std::string& name) {
  auto fail = [&](const std::string& what) -> void { throw MidiFileError(name, what); };
  if (ticks_per_beat < 1 || ticks_per_beat > 0x7FFF) {
    fail("ticks per beat must be 1..32767, got " + std::to_string(ticks_per_beat));
  }
  auto to_tick = [&](double beat, const std::string& what) -> std::int64_t {
    const double tick = std::round(beat * ticks_per_beat);
    if (!(tick >= 0) || tick > static_cast<double>(kMaxTick)) {
      throw MidiFileError(
          name, what + ": beat " + std::to_string(beat) + " is negative or beyond tick " + std::to_string(kMaxTick));
    }
    return static_cast<std::int64_t>(tick);
  };

  std::vector<TrackEvent> tempo_track;
  for (const auto& tempo : score.tempo_map) {
    const std::string what = "tempo change at beat " + std::to_string(tempo.beat);
    const double us = std::isfinite(tempo.bpm) && tempo.bpm > 0 ? std::round(60e6 / tempo.bpm) : -1;
    if (!(us >= 1 && us <= 0xFFFFFF)) fail(what + ": " + std::to_string(tempo.bpm) + " bpm is out of MIDI's range");
    const auto v = static_cast<std::uint32_t>(us);
    tempo_track.push_back({to_tick(tempo.beat, what),
                           1,
                           0,
                           {0xFF, 0x51, 0x03, static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8),
                            static_cast<std::uint8_t>(v)}});
  }
  for (const auto& sig : score.time_signatures) {
    const std::string what = "time signature at beat " + std::to_string(sig.beat);
    int power = 0;
    while (power < 8 && (1 << power) != sig.denominator) ++power;
    if (sig.numerator < 1 || sig.numerator > 255 || power == 8) {
      fail(what + ": " + std::to_string(sig.numerator) + "/" + std::to_string(sig.denominator) +
           " is not n/2^d with n in 1..255, d in 0..7");
    }
    // 24 MIDI clocks per metronome click and 8 32nd notes per quarter: the usual values.
    tempo_track.push_back(
        {to_tick(sig.beat, what),
         0,
         0,
         {0xFF, 0x58, 0x04, static_cast<std::uint8_t>(sig.numerator), static_cast<std::uint8_t>(power), 24, 8}});
  }

  std::map<std::pair<int, int>, std::vector<TrackEvent>> groups;  // (track, channel) -> events
  for (std::size_t i = 0; i < score.notes.size(); ++i) {
    const Note& note = score.notes[i];
    const std::string what = "note " + std::to_string(i) + " (pitch " + std::to_string(note.pitch) + ", beat " +
                             std::to_string(note.start_beat) + ")";
    if (note.pitch < 0 || note.pitch > 127) fail(what + ": pitch is outside 0..127");
    if (note.velocity < 1 || note.velocity > 127) {
      fail(what + ": velocity " + std::to_string(note.velocity) + " is outside 1..127");
    }
    if (note.channel < 0 || note.channel > 15)
      fail(what + ": channel " + std::to_string(note.channel) + " is outside 0..15");
    if (note.track < 0 || note.track > 0xFFFE)
      fail(what + ": track " + std::to_string(note.track) + " is outside 0..65534");
    if (!(note.end_beat > note.start_beat))
      fail(what + ": end_beat " + std::to_string(note.end_beat) + " <= start_beat");
    const std::int64_t start = to_tick(note.start_beat, what);
    const std::int64_t end = std::max(to_tick(note.end_beat, what), start + 1);
    auto& events = groups[{note.track, note.channel}];
    const auto ch = static_cast<std::uint8_t>(note.channel);
    const auto pitch = static_cast<std::uint8_t>(note.pitch);
    events.push_back(
        {start, 1, end, {static_cast<std::uint8_t>(0x90 | ch), pitch, static_cast<std::uint8_t>(note.velocity)}});
    events.push_back({end, 0, start, {static_cast<std::uint8_t>(0x80 | ch), pitch, 0x40}});
  }

  std::vector<std::vector<TrackEvent>> tracks;
  tracks.push_back(std::move(tempo_track));
  int named = -1;  // the last Note::track whose name was written (its first group carries it)
  for (auto& [key, events] : groups) {
    // Keep the score's track index where it is still free; empty tracks fill a gap.
    while (static_cast<int>(tracks.size()) < key.first) tracks.emplace_back();
    if (tracks.size() > 0xFFFF - 1) fail("more than 65535 tracks to write");
    const auto t = static_cast<std::size_t>(key.first);
    if (key.first != named && t < score.track_names.size() && !score.track_names[t].empty()) {
      const std::string text = track_name_text(
          {reinterpret_cast<const std::uint8_t*>(score.track_names[t].data()), score.track_names[t].size()});
      std::vector<std::uint8_t> meta = {0xFF, 0x03, static_cast<std::uint8_t>(text.size())};
      meta.insert(meta.end(), text.begin(), text.end());
      events.push_back({0, -1, 0, std::move(meta)});
      named = key.first;
    }
    tracks.push_back(std::move(events));
  }

  std::vector<std::uint8_t> out = {'M', 'T', 'h', 'd', 0, 0, 0, 6};
  put_u16(out, 1);
  put_u16(out, static_cast<std::uint32_t>(tracks.size()));
  put_u16(out, static_cast<std::uint32_t>(ticks_per_beat));
  for (auto& track : tracks) put_track(out, std::move(track));
  return out;
}

std::string errno_text(int err) {
  return std::strerror(err);
}

}  // namespace

MidiFileError::MidiFileError(const std::string& source, std::size_t byte_offset, const std::string& what)
    : std::runtime_error(source + ": byte " + std::to_string(byte_offset) + ": " + what),
      source_(source),
      byte_offset_(byte_offset) {}

MidiFileError::MidiFileError(const std::string& source, const std::string& what)
    : std::runtime_error(source + ": " + what), source_(source) {}

Score parse_midi(std::span<const std::uint8_t> bytes, std::string source_name) {
  return Parser(bytes, std::move(source_name)).run();
}

Score read_midi_file(const std::filesystem::path& path) {
  const std::string name = path.string();
  // O_NONBLOCK: opening a FIFO by mistake must not wait for a writer; it changes nothing for regular files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw MidiFileError(name, "cannot open: " + errno_text(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw MidiFileError(name, "cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw MidiFileError(name, "is not a regular file");
  if (static_cast<std::uintmax_t>(st.st_size) > kMaxMidiFileBytes) {
    throw MidiFileError(name, "is " + std::to_string(st.st_size) + " bytes, more than the " +
                                  std::to_string(kMaxMidiFileBytes) + " a MIDI file may have here");
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw MidiFileError(name, "cannot read: " + errno_text(errno));
    if (n == 0) break;  // the file shrank while we read it: parse what is there
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  return parse_midi(bytes, name);
}

std::vector<std::uint8_t> serialize_midi(const Score& score, int ticks_per_beat) {
  return serialize(score, ticks_per_beat, score.source.empty() ? std::string("score") : score.source);
}

void write_midi_file(const std::filesystem::path& path, const Score& score, int ticks_per_beat) {
  const std::string name = path.string();
  const std::vector<std::uint8_t> bytes = serialize(score, ticks_per_beat, name);
  try {
    write_file_atomically(path, bytes);
  } catch (const std::system_error& e) {
    throw MidiFileError(name, e.what());
  }
}

}  // namespace nextbeat::engine
