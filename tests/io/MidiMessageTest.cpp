#include "io/midi/MidiMessage.h"

#include <catch2/catch.hpp>

#include <array>
#include <initializer_list>
#include <vector>

#include "OutputEvents.h"

using namespace nextbeat;
using engine::InputEvent;
using engine::InputKind;
using engine::OutputEvent;
using engine::OutputKind;
using io::encode_midi;
using io::kAllChannels;
using io::parse_midi;

namespace {

constexpr std::int64_t kTime = 123'456'789;

bool parse(std::initializer_list<unsigned char> bytes, InputEvent& out, std::uint16_t mask = kAllChannels) {
  const std::vector<unsigned char> message(bytes);
  return parse_midi(message, kTime, mask, out);
}

using test::output_event;

}  // namespace

TEST_CASE("parse_midi reads note on, note off and velocity-0 note on", "[unit]") {
  InputEvent event;
  REQUIRE(parse({0x93, 60, 100}, event));
  CHECK(event.kind == InputKind::kNoteOn);
  CHECK(event.channel == 3);
  CHECK(event.a == 60);
  CHECK(event.b == 100);
  CHECK(event.time_ns == kTime);

  REQUIRE(parse({0x83, 60, 64}, event));
  CHECK(event.kind == InputKind::kNoteOff);
  CHECK(event.channel == 3);
  CHECK(event.a == 60);

  REQUIRE(parse({0x90, 61, 0}, event));
  CHECK(event.kind == InputKind::kNoteOff);
  CHECK(event.a == 61);
  CHECK(event.channel == 0);
}

TEST_CASE("parse_midi reads control change", "[unit]") {
  InputEvent event;
  REQUIRE(parse({0xBF, 21, 127}, event));
  CHECK(event.kind == InputKind::kControlChange);
  CHECK(event.channel == 15);
  CHECK(event.a == 21);
  CHECK(event.b == 127);
}

TEST_CASE("parse_midi reads clock, start, continue, stop and song position", "[unit]") {
  InputEvent event;
  REQUIRE(parse({0xF8}, event));
  CHECK(event.kind == InputKind::kClock);
  CHECK(event.time_ns == kTime);
  REQUIRE(parse({0xFA}, event));
  CHECK(event.kind == InputKind::kStart);
  REQUIRE(parse({0xFB}, event));
  CHECK(event.kind == InputKind::kContinue);
  REQUIRE(parse({0xFC}, event));
  CHECK(event.kind == InputKind::kStop);

  REQUIRE(parse({0xF2, 0x7F, 0x7F}, event));  // LSB, MSB
  CHECK(event.kind == InputKind::kSongPosition);
  CHECK(event.a == 16383);
  REQUIRE(parse({0xF2, 0x10, 0x01}, event));
  CHECK(event.a == 0x10 + 128);
}

TEST_CASE("parse_midi filters voice messages by channel, not system messages", "[unit]") {
  const std::uint16_t channels_1_and_3 = 0b101;  // bit c = channel c (0-based)
  InputEvent event;
  CHECK(parse({0x90, 60, 100}, event, channels_1_and_3));
  CHECK(parse({0x92, 60, 100}, event, channels_1_and_3));
  CHECK_FALSE(parse({0x91, 60, 100}, event, channels_1_and_3));
  CHECK_FALSE(parse({0x81, 60, 0}, event, channels_1_and_3));
  CHECK_FALSE(parse({0xB1, 7, 0}, event, channels_1_and_3));
  CHECK(parse({0xF8}, event, channels_1_and_3));
  CHECK(parse({0xFA}, event, 0));
}

TEST_CASE("parse_midi rejects what the engine does not take and malformed messages", "[unit]") {
  InputEvent event;
  CHECK_FALSE(parse({}, event));
  CHECK_FALSE(parse({0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7}, event));  // sysex
  CHECK_FALSE(parse({0xA0, 60, 10}, event));                        // polyphonic aftertouch
  CHECK_FALSE(parse({0xD0, 10}, event));                            // channel aftertouch
  CHECK_FALSE(parse({0xE0, 0, 64}, event));                         // pitch bend
  CHECK_FALSE(parse({0xC0, 5}, event));                             // program change
  CHECK_FALSE(parse({0xFE}, event));                                // active sensing
  CHECK_FALSE(parse({0xFF}, event));                                // reset
  CHECK_FALSE(parse({0xF1, 0x10}, event));                          // MTC quarter frame
  CHECK_FALSE(parse({60, 100}, event));                             // running status
  CHECK_FALSE(parse({0x90, 60}, event));                            // too short
  CHECK_FALSE(parse({0x90, 60, 100, 0}, event));                    // too long
  CHECK_FALSE(parse({0x90, 0x80, 100}, event));                     // data byte with the top bit set
  CHECK_FALSE(parse({0xB0, 7, 0xFF}, event));
  CHECK_FALSE(parse({0xF2, 0x10}, event));
  CHECK_FALSE(parse({0xF8, 0}, event));
}

TEST_CASE("encode_midi writes note on, note off, program and clock messages", "[unit]") {
  std::array<unsigned char, 3> bytes{};
  REQUIRE(encode_midi(output_event(OutputKind::kNoteOn, 2, 69, 100), bytes) == 3);
  CHECK(bytes == std::array<unsigned char, 3>{0x92, 69, 100});
  REQUIRE(encode_midi(output_event(OutputKind::kNoteOff, 15, 69), bytes) == 3);
  CHECK(bytes[0] == 0x8F);
  CHECK(bytes[1] == 69);
  REQUIRE(encode_midi(output_event(OutputKind::kProgram, 1, 0, 42), bytes) == 2);
  CHECK(bytes[0] == 0xC1);
  CHECK(bytes[1] == 42);
  REQUIRE(encode_midi(output_event(OutputKind::kClock), bytes) == 1);
  CHECK(bytes[0] == 0xF8);
  REQUIRE(encode_midi(output_event(OutputKind::kStart), bytes) == 1);
  CHECK(bytes[0] == 0xFA);
  REQUIRE(encode_midi(output_event(OutputKind::kStop), bytes) == 1);
  CHECK(bytes[0] == 0xFC);
}

TEST_CASE("encode_midi writes nothing for non-MIDI kinds and out-of-range values", "[unit]") {
  std::array<unsigned char, 3> bytes{};
  CHECK(encode_midi(output_event(OutputKind::kBeat), bytes) == 0);
  CHECK(encode_midi(output_event(OutputKind::kAllNotesOff), bytes) == 0);
  CHECK(encode_midi(output_event(OutputKind::kNoteOn, 16, 60, 100), bytes) == 0);
  CHECK(encode_midi(output_event(OutputKind::kNoteOn, 0, 128, 100), bytes) == 0);
  CHECK(encode_midi(output_event(OutputKind::kNoteOn, 0, 60, 128), bytes) == 0);
  CHECK(encode_midi(output_event(OutputKind::kProgram, 0, 0, 200), bytes) == 0);
}

TEST_CASE("encoded output parses back to the same note", "[unit]") {
  std::array<unsigned char, 3> bytes{};
  for (int channel : {0, 9, 15}) {
    for (int pitch : {0, 60, 127}) {
      const std::size_t size = encode_midi(output_event(OutputKind::kNoteOn, channel, pitch, 90), bytes);
      InputEvent event;
      REQUIRE(parse_midi(std::span(bytes.data(), size), kTime, kAllChannels, event));
      CHECK(event.kind == InputKind::kNoteOn);
      CHECK(event.channel == channel);
      CHECK(event.a == pitch);
      CHECK(event.b == 90);
    }
  }
}

TEST_CASE("channel_mask_of turns midi.input_channels into a mask", "[unit]") {
  CHECK(io::channel_mask_of(std::vector<int>{}) == kAllChannels);
  CHECK(io::channel_mask_of(std::vector<int>{1}) == 0x0001);
  CHECK(io::channel_mask_of(std::vector<int>{1, 3, 16}) == (0x0001 | 0x0004 | 0x8000));
  CHECK(io::channel_mask_of(std::vector<int>{0, 17}) == 0);  // out of range: ignored
}
