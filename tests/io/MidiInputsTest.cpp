// MidiInputs against real JACK MIDI clients. Each test case runs as its own
// CTest test under tests/tools/with_jackd.sh, on a private `jackd -d dummy`
// server with no other client (see tests/io/CMakeLists.txt).
#include "io/midi/MidiInputs.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "TestPeers.h"
#include "engine/queues/InputHub.h"
#include "io/midi/MidiOutput.h"

using namespace nextbeat;
using engine::InputEvent;
using engine::InputKind;
using test::MidiPeer;
using test::milliseconds;
using test::steady_now_ns;
using Lines = std::vector<std::string>;

namespace {

std::string note_on_hex(int pitch, int velocity) {
  char text[16];
  std::snprintf(text, sizeof text, "90 %02x %02x", pitch, velocity);
  return text;
}

void check_event(const InputEvent& event, InputKind kind, int channel, int a, int b) {
  INFO("event kind " << static_cast<int>(event.kind) << " channel " << int(event.channel) << " a " << event.a << " b "
                     << event.b);
  CHECK(event.kind == kind);
  CHECK(event.channel == channel);
  CHECK(event.a == a);
  CHECK(event.b == b);
}

}  // namespace

TEST_CASE("MidiInputs: the virtual port hands a JACK client's messages to the hub, in order", "[virtual-port]") {
  engine::InputHub hub;
  config::MidiConfig config;  // api = auto: JACK, since a server runs
  config.inputs = {};         // the virtual port only
  io::MidiInputs inputs(config, hub);
  CHECK(inputs.api_name() == "jack");
  CHECK(inputs.virtual_port() == "nextbeat:nextbeat in");
  CHECK_THAT(inputs.where_to_connect(), Catch::Contains("\"nextbeat:nextbeat in\""));
  CHECK(inputs.port_of_slot(inputs.virtual_slot()) == "nextbeat:nextbeat in");
  CHECK(inputs.rescan().empty());

  MidiPeer keys(MidiPeer::Mode::kSend, "performer", "performer keys");
  REQUIRE(test::run({"jack_connect", keys.port_name(), inputs.virtual_port()}) == 0);
  const std::int64_t before_ns = steady_now_ns();
  for (const char* message : {"90 3c 64", "b0 15 40", "f8", "80 3c 40", "fa", "f2 10 01", "fb", "fc", "91 40 00"}) {
    keys.send(message);
  }
  const std::vector<InputEvent> events = test::wait_events(hub, 9);
  const std::int64_t after_ns = steady_now_ns();
  REQUIRE(events.size() == 9);
  check_event(events[0], InputKind::kNoteOn, 0, 60, 100);
  check_event(events[1], InputKind::kControlChange, 0, 21, 64);
  check_event(events[2], InputKind::kClock, 0, 0, 0);
  check_event(events[3], InputKind::kNoteOff, 0, 60, 0);
  check_event(events[4], InputKind::kStart, 0, 0, 0);
  check_event(events[5], InputKind::kSongPosition, 0, 0x10 + 128, 0);
  check_event(events[6], InputKind::kContinue, 0, 0, 0);
  check_event(events[7], InputKind::kStop, 0, 0, 0);
  check_event(events[8], InputKind::kNoteOff, 1, 64, 0);  // note on with velocity 0
  for (std::size_t i = 0; i < events.size(); ++i) {
    INFO("event " << i);
    CHECK(events[i].port == inputs.virtual_slot());
    // Stamped when it arrived: after it was sent, before it was read.
    CHECK(events[i].time_ns >= before_ns);
    CHECK(events[i].time_ns <= after_ns);
    if (i > 0) CHECK(events[i].time_ns >= events[i - 1].time_ns);
  }
  CHECK(inputs.ignored_messages() == 0);
  CHECK(hub.dropped() == 0);
}

TEST_CASE("MidiInputs: a second nextbeat gets a port name of its own, and says which", "[virtual-port-names]") {
  engine::InputHub hub;
  config::MidiConfig config;
  config.inputs = {};
  io::MidiInputs first(config, hub);
  io::MidiInputs second(config, hub);
  CHECK(first.virtual_port() == "nextbeat:nextbeat in");
  // JACK makes client names unique by appending "-01"; the name reported is
  // the one other clients see, so where_to_connect() stays true.
  CHECK(second.virtual_port() == "nextbeat-01:nextbeat in");
  CHECK(first.virtual_slot() != second.virtual_slot());

  MidiPeer keys(MidiPeer::Mode::kSend, "performer", "performer keys");
  REQUIRE(test::run({"jack_connect", keys.port_name(), second.virtual_port()}) == 0);
  keys.send("90 3c 64");
  const std::vector<InputEvent> events = test::wait_events(hub, 1);
  REQUIRE(events.size() == 1);
  CHECK(events[0].port == second.virtual_slot());
}

TEST_CASE("MidiInputs: midi.input_channels filters voice messages, not clock", "[channel-filter]") {
  engine::InputHub hub;
  config::MidiConfig config;
  config.api = config::MidiApi::kJack;
  config.inputs = {};
  config.input_channels = {1, 3};
  io::MidiInputs inputs(config, hub);
  MidiPeer keys(MidiPeer::Mode::kSend, "performer", "performer keys");
  REQUIRE(test::run({"jack_connect", keys.port_name(), inputs.virtual_port()}) == 0);

  // Messages from one port arrive in order, so the clock sent last proves
  // that nothing filtered out is still on its way.
  for (const char* message : {"90 3c 64", "91 3d 64", "92 3e 64", "e0 00 40", "b1 07 10", "f8"}) keys.send(message);
  const std::vector<InputEvent> events = test::wait_events(hub, 3);
  REQUIRE(events.size() == 3);
  check_event(events[0], InputKind::kNoteOn, 0, 60, 100);
  check_event(events[1], InputKind::kNoteOn, 2, 62, 100);
  check_event(events[2], InputKind::kClock, 0, 0, 0);
  CHECK(inputs.ignored_messages() == 3);  // channel 2 twice, and a pitch bend
}

TEST_CASE("MidiInputs: hot-plug follows a port that appears, vanishes and comes back", "[hot-plug]") {
  engine::InputHub hub;
  config::MidiConfig config;
  config.inputs = {"performer keys"};
  io::MidiInputs inputs(config, hub);
  CHECK(inputs.rescan().empty());
  CHECK(inputs.connected_ports().empty());
  const std::string port = "performer:performer keys";
  const Lines connected{"MIDI input connected: " + port};
  const Lines lost{"MIDI input lost: " + port};

  const auto note_arrives = [&](MidiPeer& keys, int pitch) {
    keys.send(note_on_hex(pitch, 0x50));
    const std::vector<InputEvent> events = test::wait_events(hub, 1);
    REQUIRE(events.size() == 1);
    check_event(events[0], InputKind::kNoteOn, 0, pitch, 0x50);
    CHECK(events[0].port != inputs.virtual_slot());
    CHECK(inputs.port_of_slot(events[0].port) == port);
  };

  {
    MidiPeer keys(MidiPeer::Mode::kSend, "performer", "performer keys");
    // The first rescan after the port appears follows it: the daemon calls
    // rescan every 500 ms, well inside the 2 s that hot-plug allows.
    CHECK(inputs.rescan() == connected);
    CHECK(inputs.connected_ports() == Lines{port});
    note_arrives(keys, 69);
    CHECK(inputs.rescan().empty());  // nothing changed
    keys.quit();
  }
  CHECK(inputs.rescan() == lost);
  CHECK(inputs.connected_ports().empty());

  {
    MidiPeer keys(MidiPeer::Mode::kSend, "performer", "performer keys");
    CHECK(inputs.rescan() == connected);
    note_arrives(keys, 70);
    keys.quit();
  }
  {
    // Gone and back between two rescans (a program restarted quickly): the
    // port is listed both times under the same name, but the connection
    // went with the old port.
    MidiPeer keys(MidiPeer::Mode::kSend, "performer", "performer keys");
    CHECK(inputs.rescan() == Lines{lost[0], connected[0]});
    CHECK(inputs.connected_ports() == Lines{port});
    note_arrives(keys, 71);
  }
  CHECK(inputs.rescan() == lost);
  CHECK(hub.dropped() == 0);
}

TEST_CASE("MidiInputs: \"*\" follows every port but nextbeat's own", "[follow-all]") {
  engine::InputHub hub;
  config::MidiConfig config;
  config.inputs = {"*"};
  // nextbeat's own output port sends MIDI too: following it would make
  // nextbeat hear itself.
  io::MidiOutput output(config);
  REQUIRE(output.port_name() == "nextbeat-out:nextbeat out");
  MidiPeer keys(MidiPeer::Mode::kSend, "performer", "performer keys");
  MidiPeer pads(MidiPeer::Mode::kSend, "drum pads", "pads");
  io::MidiInputs inputs(config, hub);
  // The constructor followed the ports that existed; the first rescan says so.
  Lines lines = inputs.rescan();
  std::sort(lines.begin(), lines.end());
  CHECK(lines == Lines{"MIDI input connected: drum pads:pads", "MIDI input connected: performer:performer keys"});
  Lines ports = inputs.connected_ports();
  std::sort(ports.begin(), ports.end());
  CHECK(ports == Lines{"drum pads:pads", "performer:performer keys"});
  CHECK_THAT(inputs.where_to_connect(), Catch::Contains("every other client's MIDI output"));

  pads.send("99 24 7f");
  const std::vector<InputEvent> events = test::wait_events(hub, 1);
  REQUIRE(events.size() == 1);
  check_event(events[0], InputKind::kNoteOn, 9, 36, 127);
  CHECK(inputs.port_of_slot(events[0].port) == "drum pads:pads");
}

TEST_CASE("MidiInputs and MidiOutput say why when no MIDI API can be opened", "[no-midi-api]") {
  // Run with JACK_DEFAULT_SERVER naming a server that does not exist, on a
  // machine without /dev/snd/seq (tests/io/CMakeLists.txt).
  engine::InputHub hub;
  config::MidiConfig config;
  const std::string expected = "no MIDI API: no JACK server running and no ALSA sequencer (/dev/snd/seq)";
  CHECK_THROWS_WITH(io::MidiInputs(config, hub), Catch::StartsWith(expected));
  CHECK_THROWS_WITH(io::MidiOutput(config), Catch::StartsWith(expected));
  config.api = config::MidiApi::kJack;
  CHECK_THROWS_WITH(io::MidiInputs(config, hub), Catch::Contains("JACK server not running"));
  config.api = config::MidiApi::kAlsa;
  CHECK_THROWS_WITH(io::MidiInputs(config, hub), Catch::Contains("/dev/snd"));
  // Nothing was claimed and kept: every slot but the control thread's is free.
  for (std::size_t i = 1; i < engine::InputHub::kSlots; ++i) CHECK(hub.claim().has_value());
}
