// libFuzzer target: the model file container (engine/model/ModelFile.h parse_model_file) and what
// LstmModel::load does with its header before any tensor is made (format, spec_from_json, the provenance copy).
// The rest of load (building the LibTorch network, copying tensors in) is not fuzzed: it needs LibTorch and only
// runs on a spec and tensor table that passed the checks here. Built and run by scripts/fuzz.sh.
//
// Every input is tried twice: as it is (the magic, version, end marker and CRC-32 checks), and with a correct
// CRC-32 and end marker written over its last 8 bytes, so that the fuzzer reaches the header and the tensor
// table, which a random mutation would otherwise never get past the CRC to.
//
// Contract checked: parse_model_file returns contents or throws ModelFileError; spec_from_json returns a spec or
// throws ModelFileError; nothing else escapes, nothing crashes; every tensor's bytes match its dtype and shape.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model/ModelFile.h"
#include "engine/model/ModelSpec.h"

namespace {

using namespace nextbeat::engine;

void load_header_like_lstm_model(std::span<const std::uint8_t> bytes) {
  ModelFileContents contents;
  try {
    contents = parse_model_file(bytes, "fuzz.nbm");
  } catch (const ModelFileError&) {
    return;
  }
  for (const TensorBlob& t : contents.tensors) {
    const std::int64_t size = t.dtype == DType::kFloat32 ? 4 : t.dtype == DType::kInt64 ? 8 : 1;
    if (t.numel() * size != static_cast<std::int64_t>(t.data.size())) __builtin_trap();
  }
  // As LstmModel::load (engine/model/Model.cpp), up to building the network.
  const auto format = contents.header.value("format", std::string());
  if (format != "nextbeat-model" && format != "nextbeat-checkpoint") return;
  if (!contents.header.contains("spec")) return;
  try {
    (void)spec_from_json(contents.header["spec"], "fuzz.nbm");
  } catch (const ModelFileError&) {
    return;
  }
  const nlohmann::json provenance = contents.header.value("provenance", nlohmann::json::object());
  (void)provenance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  load_header_like_lstm_model(std::span<const std::uint8_t>(data, size));

  constexpr std::size_t kTrailer = 8;
  if (size < 24 + kTrailer) return 0;
  std::vector<std::uint8_t> fixed(data, data + size);
  const std::size_t body = size - kTrailer;
  const auto crc = static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), fixed.data(), static_cast<uInt>(body)));
  for (std::size_t i = 0; i < 4; ++i) fixed[body + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  const char end[4] = {'E', 'N', 'D', '\0'};
  for (std::size_t i = 0; i < 4; ++i) fixed[body + 4 + i] = static_cast<std::uint8_t>(end[i]);
  load_header_like_lstm_model(fixed);
  return 0;
}
