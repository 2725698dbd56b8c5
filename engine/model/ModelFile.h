// The on-disk container of models and training checkpoints. One file holds a
// JSON header (hyperparameters, codec settings, provenance, metrics) and the
// named tensors, protected by a CRC-32, and is always written atomically
// (temp file + rename): a kill never leaves a half-written model.
//
// Layout (little-endian):
//   "NXTBEAT\0" | u32 format version | u32 0 | u64 header length | header JSON
//   | tensor data (each tensor's bytes, in header order) | u32 CRC-32 of all
//   bytes before it | "END\0"
// The header's "tensors" array lists {name, dtype, shape, offset, bytes};
// offsets count from the start of the tensor data.
//
// No LibTorch here: the container is read, checked and written as bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nextbeat::engine {

constexpr std::uint32_t kModelFormatVersion = 1;

enum class DType : std::uint8_t { kFloat32, kInt64, kUInt8 };

struct TensorBlob {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> data;  // row-major, little-endian
  std::int64_t numel() const;
};

struct ModelFileContents {
  nlohmann::json header = nlohmann::json::object();  // everything but the tensor table
  std::vector<TensorBlob> tensors;
  const TensorBlob* find(std::string_view name) const;
};

// Names the file and what is wrong with it; thrown at the load/save boundary.
class ModelFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::vector<std::uint8_t> serialize_model_file(const ModelFileContents& contents);
ModelFileContents parse_model_file(std::span<const std::uint8_t> bytes, const std::string& source);

// Atomic: temp file in the same directory, fsync, rename, fsync the directory.
void write_model_file(const std::filesystem::path& path, const ModelFileContents& contents);
ModelFileContents read_model_file(const std::filesystem::path& path);

}  // namespace nextbeat::engine
