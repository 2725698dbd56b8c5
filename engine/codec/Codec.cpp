#include "engine/codec/Codec.h"

#include <stdexcept>

#include "engine/codec/EventCodec.h"
#include "engine/codec/PianoRollCodec.h"

namespace nextbeat::engine {

// Throws std::invalid_argument for settings the codec cannot work with (a model
// file or a config is the boundary that calls this).
std::unique_ptr<Codec> make_codec(const CodecSettings& settings) {
  switch (settings.kind) {
    case CodecKind::kEvents:
      return std::make_unique<EventCodec>(settings);
    case CodecKind::kPianoRoll:
      return std::make_unique<PianoRollCodec>(settings);
  }
  throw std::invalid_argument("make_codec: unknown codec kind");
}

}  // namespace nextbeat::engine
