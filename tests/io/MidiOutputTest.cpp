// MidiOutput against a real JACK MIDI client (tests/io/midi_peer.py
// receiving). Each test case runs as its own CTest test under
// tests/tools/with_jackd.sh, on a private `jackd -d dummy` server.
#include "io/midi/MidiOutput.h"

#include <catch2/catch.hpp>

#include <bitset>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "OutputEvents.h"
#include "TestPeers.h"
#include "engine/queues/InputHub.h"
#include "io/midi/MidiInputs.h"

using namespace nextbeat;
using engine::OutputEvent;
using engine::OutputKind;
using test::MidiPeer;
using Lines = std::vector<std::string>;

namespace {

using test::output_event;

std::string hex(int status, int data1, int data2) {
  char text[16];
  std::snprintf(text, sizeof text, "%02x %02x %02x", status, data1, data2);
  return text;
}

Lines receive(MidiPeer& synth, std::size_t count) {
  Lines lines;
  while (lines.size() < count) {
    const std::optional<std::string> line = synth.receive();
    if (!line) break;
    lines.push_back(*line);
  }
  return lines;
}

// What a synth would be left sounding after the messages it received.
struct SoundingModel {
  std::bitset<std::size_t{16} * 128> sounding;
  std::bitset<16> all_sound_off_seen;

  void apply(const std::string& line) {
    std::istringstream in(line);
    unsigned status = 0, data1 = 0, data2 = 0;
    in >> std::hex >> status >> data1 >> data2;
    const unsigned channel = status & 0x0F;
    switch (status & 0xF0) {
      case 0x90:
        sounding.set(channel * 128 + data1, data2 > 0);
        break;
      case 0x80:
        sounding.reset(channel * 128 + data1);
        break;
      case 0xB0:
        if (data1 == 123 || data1 == 120) {
          for (unsigned pitch = 0; pitch < 128; ++pitch) sounding.reset(channel * 128 + pitch);
        }
        if (data1 == 120) all_sound_off_seen.set(channel);
        break;
      default:
        break;
    }
  }
};

}  // namespace

TEST_CASE("MidiOutput: plays to the port midi.output names", "[output-named]") {
  MidiPeer synth(MidiPeer::Mode::kReceive, "monitor", "monitor in");
  config::MidiConfig config;
  config.output = "monitor";
  io::MidiOutput output(config);
  CHECK(output.api_name() == "jack");
  CHECK_FALSE(output.is_virtual());
  CHECK(output.port_name() == "monitor:monitor in");
  CHECK_THAT(output.where_to_connect(), Catch::Contains("monitor:monitor in"));

  output.emit(output_event(OutputKind::kProgram, 0, 0, 5));
  output.emit(output_event(OutputKind::kStart));
  output.emit(output_event(OutputKind::kNoteOn, 0, 60, 100));
  output.emit(output_event(OutputKind::kClock));
  output.emit(output_event(OutputKind::kBeat));  // not MIDI: nothing sent
  output.emit(output_event(OutputKind::kNoteOff, 0, 60));
  output.emit(output_event(OutputKind::kStop));
  CHECK(receive(synth, 6) == Lines{"c0 05", "fa", hex(0x90, 60, 100), "f8", hex(0x80, 60, 64), "fc"});
  CHECK(output.sent_messages() == 6);
  CHECK(output.send_errors() == 0);
}

TEST_CASE("MidiOutput: the virtual port, all-notes-off and all_notes_off_everywhere leave nothing sounding",
          "[output-virtual]") {
  MidiPeer synth(MidiPeer::Mode::kReceive, "monitor", "monitor in");
  config::MidiConfig config;  // output = "": the virtual port
  io::MidiOutput output(config);
  CHECK(output.is_virtual());
  CHECK(output.port_name() == "nextbeat-out:nextbeat out");
  CHECK_THAT(output.where_to_connect(), Catch::Contains("jack_connect 'nextbeat-out:nextbeat out'"));
  REQUIRE(test::run({"jack_connect", output.port_name(), synth.port_name()}) == 0);
  SoundingModel model;

  output.emit(output_event(OutputKind::kNoteOn, 0, 60, 100));
  output.emit(output_event(OutputKind::kNoteOn, 0, 64, 100));
  output.emit(output_event(OutputKind::kNoteOn, 2, 67, 90));
  output.emit(output_event(OutputKind::kAllNotesOff));
  // Note-offs for what sounds, then CC 123 on the channels played on.
  const Lines panic = receive(synth, 8);
  CHECK(panic == Lines{hex(0x90, 60, 100), hex(0x90, 64, 100), hex(0x92, 67, 90), hex(0x80, 60, 64), hex(0x80, 64, 64),
                       hex(0x82, 67, 64), hex(0xB0, 123, 0), hex(0xB2, 123, 0)});
  for (const std::string& line : panic) model.apply(line);
  CHECK(model.sounding.none());

  output.emit(output_event(OutputKind::kNoteOn, 1, 62, 80));
  output.emit(output_event(OutputKind::kNoteOn, 15, 50, 80));
  output.emit(output_event(OutputKind::kNoteOff, 1, 62));
  output.all_notes_off_everywhere();
  // 3 notes, 1 note-off for the one still sounding, CC 123 and 120 on all 16 channels.
  const Lines exit_lines = receive(synth, 3 + 1 + 32);
  REQUIRE(exit_lines.size() == 36);
  CHECK(exit_lines[3] == hex(0x8F, 50, 64));
  CHECK(exit_lines[4] == hex(0xB0, 123, 0));
  CHECK(exit_lines[5] == hex(0xB0, 120, 0));
  for (const std::string& line : exit_lines) model.apply(line);
  CHECK(model.sounding.none());
  CHECK(model.all_sound_off_seen.all());
  CHECK(output.sent_messages() == 8 + 36);
}

TEST_CASE("MidiOutput: notes still sounding are turned off when it is destroyed", "[output-destroyed]") {
  MidiPeer synth(MidiPeer::Mode::kReceive, "monitor", "monitor in");
  config::MidiConfig config;
  config.output = "monitor in";
  {
    io::MidiOutput output(config);
    output.emit(output_event(OutputKind::kNoteOn, 3, 72, 100));
  }
  CHECK(receive(synth, 2) == Lines{hex(0x93, 72, 100), hex(0x83, 72, 64)});
}

TEST_CASE("MidiOutput: names midi.output and the ports there are when none matches", "[output-missing]") {
  MidiPeer synth(MidiPeer::Mode::kReceive, "monitor", "monitor in");
  engine::InputHub hub;
  config::MidiConfig config;
  config.inputs = {};
  io::MidiInputs inputs(config, hub);  // its virtual input is a port that receives, but nextbeat's own
  config.output = "no such synth";
  try {
    io::MidiOutput output(config);
    FAIL("no exception");
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    CHECK_THAT(message, Catch::Contains("\"no such synth\" (midi.output)"));
    CHECK_THAT(message, Catch::Contains("\"monitor:monitor in\""));
    CHECK_THAT(message, !Catch::Contains("nextbeat in"));
  }
  // nextbeat never plays into its own input, even when asked by name.
  config.output = "nextbeat in";
  CHECK_THROWS_WITH(io::MidiOutput(config), Catch::Contains("\"nextbeat in\" (midi.output)"));
}
