// nextbeat's MIDI output: its own virtual port "nextbeat out", or a
// connection to an existing port (midi.output). Sends each event when
// emit() is called: the output thread calls it at the event's time.
// Remembers every note it has turned on and not off, so that a panic, a
// mode switch or exit leaves nothing sounding.
#pragma once

#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>

#include "config/Config.h"
#include "engine/queues/LiveEvent.h"

class RtMidiOut;

namespace nextbeat::io {

class MidiOutput : public engine::OutputSink {
 public:
  // Opens an RtMidiOut on the API that midi.api resolves to (see
  // resolve_midi_api; never starts JACK): the virtual port "nextbeat out"
  // when midi.output is "", else a connection to the first port of another
  // client whose name contains midi.output. Throws std::runtime_error when no
  // MIDI API can be opened, or when no port matches (naming midi.output and
  // the ports that exist). Called on: the control thread.
  explicit MidiOutput(const config::MidiConfig& config);
  // Turns off the notes still sounding (as all_notes_off_everywhere would,
  // without the controller messages), then closes the port.
  ~MidiOutput() override;
  MidiOutput(const MidiOutput&) = delete;
  MidiOutput& operator=(const MidiOutput&) = delete;

  // Sends the event now: note on/off, clock, start, stop, program change.
  // kAllNotesOff sends a note-off for every note this object turned on and
  // not off, then "all notes off" (CC 123) on every channel it has played
  // on. kBeat is not MIDI and is ignored. called on: the output thread (one
  // thread only). No allocation or lock here; RtMidi's JACK backend writes
  // to a ring buffer that JACK's process callback sends from, at the start
  // of the next period; its ALSA backend writes to the sequencer.
  void emit(const engine::OutputEvent& event) noexcept override;

  // Before exit or on panic: note-offs for everything sounding, then CC 123
  // (all notes off) and CC 120 (all sound off) on all 16 channels, which
  // also silences notes another program left on the synth. called on: the
  // thread that calls emit(), or any thread once that has stopped.
  void all_notes_off_everywhere() noexcept;

  // "jack" or "alsa".
  std::string api_name() const;
  // Our virtual port's full name as other clients see it (JACK
  // "nextbeat-out:nextbeat out"), or the port played to (midi.output).
  const std::string& port_name() const noexcept { return port_name_; }
  bool is_virtual() const noexcept { return virtual_; }
  // One sentence for the start-up log.
  std::string where_to_connect() const;

  // Messages handed to RtMidi, and those it reported failing (ALSA).
  std::uint64_t sent_messages() const noexcept { return sent_.load(std::memory_order_relaxed); }
  std::uint64_t send_errors() const noexcept { return errors_.load(std::memory_order_relaxed); }

 private:
  void send(const unsigned char* bytes, std::size_t size) noexcept;
  void send_sounding_note_offs() noexcept;
  void send_control_change(int channel, int controller, int value) noexcept;

  config::MidiApi api_ = config::MidiApi::kAuto;
  std::unique_ptr<RtMidiOut> out_;
  std::string port_name_;
  bool virtual_ = true;
  std::bitset<std::size_t{16} * 128> sounding_;  // bit channel * 128 + pitch: note on sent, note off not yet
  std::uint16_t channels_used_ = 0;              // bit c: a note was played on channel c
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace nextbeat::io
