#include "engine/codec/Codec.h"

#include <algorithm>
#include <stdexcept>

#include "engine/codec/EventCodec.h"
#include "engine/codec/EventLiveStream.h"
#include "engine/codec/LiveStream.h"
#include "engine/codec/PianoRollCodec.h"
#include "engine/codec/PianoRollLiveStream.h"

namespace nextbeat::engine {
namespace {

// One row per codec: everything the rest of the engine needs to know about a
// kind. A new codec is a new CodecKind, its files in engine/codec/ and a row here.
struct CodecEntry {
  CodecKind kind;
  std::string_view name;
  StepForm form;
  int (*grid_per_beat)(const CodecSettings&) noexcept;
  int (*input_size)(const CodecSettings&) noexcept;
  std::unique_ptr<Codec> (*make)(const CodecSettings&);  // throws std::invalid_argument
  LiveStream& (*make_live_stream)(const CodecSettings&, LiveStreamSlot&) noexcept;
};

constexpr CodecEntry kCodecs[] = {
    {CodecKind::kEvents, "events", StepForm::kToken, [](const CodecSettings& s) noexcept { return s.ticks_per_beat; },
     [](const CodecSettings& s) noexcept {
       return EventLayout{.velocity_bins = s.velocity_bins, .max_shift_ticks = s.max_shift_ticks}.vocabulary_size();
     },
     [](const CodecSettings& s) -> std::unique_ptr<Codec> { return std::make_unique<EventCodec>(s); },
     [](const CodecSettings& s, LiveStreamSlot& slot) noexcept -> LiveStream& {
       return slot.emplace<EventLiveStream>(s);
     }},
    {CodecKind::kPianoRoll, "pianoroll", StepForm::kFrame,
     [](const CodecSettings& s) noexcept { return s.steps_per_beat; },
     [](const CodecSettings&) noexcept { return kKeys; },
     [](const CodecSettings& s) -> std::unique_ptr<Codec> { return std::make_unique<PianoRollCodec>(s); },
     [](const CodecSettings& s, LiveStreamSlot& slot) noexcept -> LiveStream& {
       return slot.emplace<PianoRollLiveStream>(s);
     }},
};

// CodecKind values index the table; checked here so that a new kind cannot miss its row.
constexpr bool table_in_kind_order() {
  for (std::size_t i = 0; i < std::size(kCodecs); ++i)
    if (static_cast<std::size_t>(kCodecs[i].kind) != i) return false;
  return true;
}
static_assert(table_in_kind_order());

const CodecEntry& entry(CodecKind kind) noexcept {
  const auto i = static_cast<std::size_t>(kind);
  return kCodecs[i < std::size(kCodecs) ? i : 0];
}

}  // namespace

// Throws std::invalid_argument for settings the codec cannot work with (a model
// file or a config is the boundary that calls this).
std::unique_ptr<Codec> make_codec(const CodecSettings& settings) {
  const auto i = static_cast<std::size_t>(settings.kind);
  if (i >= std::size(kCodecs)) throw std::invalid_argument("make_codec: unknown codec kind");
  return kCodecs[i].make(settings);
}

LiveStream& make_live_stream(const CodecSettings& settings, LiveStreamSlot& slot) noexcept {
  return entry(settings.kind).make_live_stream(settings, slot);
}

std::string_view codec_name(CodecKind kind) noexcept {
  return entry(kind).name;
}

std::optional<CodecKind> codec_named(std::string_view name) noexcept {
  for (const auto& codec : kCodecs)
    if (codec.name == name) return codec.kind;
  return std::nullopt;
}

std::string codec_names() {
  std::string names;
  for (std::size_t i = 0; i < std::size(kCodecs); ++i) {
    if (i > 0) names += i + 1 == std::size(kCodecs) ? " or " : ", ";
    names += '"' + std::string(kCodecs[i].name) + '"';
  }
  return names;
}

StepForm step_form(CodecKind kind) noexcept {
  return entry(kind).form;
}

int grid_per_beat(const CodecSettings& settings) noexcept {
  return entry(settings.kind).grid_per_beat(settings);
}

int step_input_size(const CodecSettings& settings) noexcept {
  return entry(settings.kind).input_size(settings);
}

Score decoded_score_base(int ticks_per_beat, const std::string& source) {
  Score score;
  score.tempo_map = {TempoChange{0, 120}};
  score.time_signatures = {TimeSignature{0, 4, 4}};
  score.ticks_per_beat = ticks_per_beat;
  score.source = source;
  return score;
}

void require_codec_setting(std::string_view codec, std::string_view name, int value, int lo, int hi) {
  if (value < lo || value > hi)
    throw std::invalid_argument(std::string(codec) + " codec: " + std::string(name) + " must be " + std::to_string(lo) +
                                ".." + std::to_string(hi) + ", got " + std::to_string(value));
}

}  // namespace nextbeat::engine
