#include "engine/model/ModelFile.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <limits>

#include "engine/util/AtomicFile.h"

namespace nextbeat::engine {
namespace {

constexpr std::array<char, 8> kMagic{'N', 'X', 'T', 'B', 'E', 'A', 'T', '\0'};
constexpr std::array<char, 4> kEnd{'E', 'N', 'D', '\0'};
constexpr std::size_t kPreambleBytes = 8 + 4 + 4 + 8;
constexpr std::size_t kTrailerBytes = 4 + 4;
// A bundled model is a few MB; a big one a few hundred. Anything above this is
// not a model, and refusing it early bounds memory on a hostile file.
constexpr std::uint64_t kMaxFileBytes = std::uint64_t{4} << 30;

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
      return 8;
    case DType::kUInt8:
      return 1;
  }
  return 1;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "f32";
    case DType::kInt64:
      return "i64";
    case DType::kUInt8:
      return "u8";
  }
  return "?";
}

template <class T>
T get(std::span<const std::uint8_t> bytes, std::size_t offset) {
  T value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) value |= static_cast<T>(bytes[offset + i]) << (8 * i);
  return value;
}

// resize + memcpy rather than vector::insert of a small array: GCC 12 warns
// falsely (-Wstringop-overflow) about the latter.
void append(std::vector<std::uint8_t>& out, const void* data, std::size_t size) {
  const std::size_t at = out.size();
  out.resize(at + size);
  if (size > 0) std::memcpy(out.data() + at, data, size);
}

template <class T>
void put(std::vector<std::uint8_t>& out, T value) {
  std::uint8_t bytes[sizeof(T)];
  for (std::size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
  append(out, bytes, sizeof(T));
}

std::uint32_t crc32_of(std::span<const std::uint8_t> bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large files in pieces.
  constexpr std::size_t kPiece = std::size_t{1} << 30;
  for (std::size_t at = 0; at < bytes.size(); at += kPiece) {
    const auto n = static_cast<uInt>(std::min(kPiece, bytes.size() - at));
    crc = crc32(crc, bytes.data() + at, n);
  }
  return static_cast<std::uint32_t>(crc);
}

}  // namespace

std::int64_t TensorBlob::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

const TensorBlob* ModelFileContents::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<std::uint8_t> serialize_model_file(const ModelFileContents& contents) {
  nlohmann::json header = contents.header;
  nlohmann::json table = nlohmann::json::array();
  std::uint64_t offset = 0;
  for (const auto& t : contents.tensors) {
    if (static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype) != t.data.size())
      throw ModelFileError("tensor '" + t.name + "': " + std::to_string(t.data.size()) +
                           " bytes do not match its shape");
    table.push_back({{"name", t.name},
                     {"dtype", dtype_name(t.dtype)},
                     {"shape", t.shape},
                     {"offset", offset},
                     {"bytes", t.data.size()}});
    offset += t.data.size();
  }
  header["tensors"] = std::move(table);
  const std::string text = header.dump();

  std::vector<std::uint8_t> out;
  out.reserve(kPreambleBytes + text.size() + offset + kTrailerBytes);
  append(out, kMagic.data(), kMagic.size());
  put<std::uint32_t>(out, kModelFormatVersion);
  put<std::uint32_t>(out, 0);
  put<std::uint64_t>(out, text.size());
  append(out, text.data(), text.size());
  for (const auto& t : contents.tensors) append(out, t.data.data(), t.data.size());
  put<std::uint32_t>(out, crc32_of(out));
  append(out, kEnd.data(), kEnd.size());
  return out;
}

ModelFileContents parse_model_file(std::span<const std::uint8_t> bytes, const std::string& source) {
  const auto fail = [&](const std::string& what) { return ModelFileError(source + ": " + what); };
  if (bytes.size() < kMagic.size() || !std::equal(kMagic.begin(), kMagic.end(), bytes.begin())) {
    std::string hint;
    if (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] == 'K') hint = " (it looks like a zip/PyTorch archive)";
    throw fail("not a nextbeat model file: it does not start with NXTBEAT" + hint);
  }
  if (bytes.size() < kPreambleBytes + kTrailerBytes)
    throw fail("truncated: only " + std::to_string(bytes.size()) + " bytes");
  const auto version = get<std::uint32_t>(bytes, 8);
  if (version != kModelFormatVersion)
    throw fail("model format version " + std::to_string(version) + ", this nextbeat reads version " +
               std::to_string(kModelFormatVersion));
  const std::size_t body = bytes.size() - kTrailerBytes;
  if (!std::equal(kEnd.begin(), kEnd.end(), bytes.begin() + static_cast<std::ptrdiff_t>(body) + 4))
    throw fail("truncated or damaged: the end marker is missing (was the file cut short?)");
  const auto stored_crc = get<std::uint32_t>(bytes, body);
  if (stored_crc != crc32_of(bytes.first(body))) throw fail("damaged: CRC-32 mismatch");

  const auto header_bytes = get<std::uint64_t>(bytes, 16);
  if (header_bytes > body - kPreambleBytes) throw fail("damaged: header length past the end of the file");
  ModelFileContents contents;
  try {
    contents.header = nlohmann::json::parse(bytes.begin() + kPreambleBytes,
                                            bytes.begin() + static_cast<std::ptrdiff_t>(kPreambleBytes + header_bytes));
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("damaged header: ") + e.what());
  }
  if (!contents.header.is_object() || !contents.header.contains("tensors") || !contents.header["tensors"].is_array())
    throw fail("damaged header: no tensor table");

  const std::size_t data_start = kPreambleBytes + header_bytes;
  const std::size_t data_bytes = body - data_start;
  try {
    for (const auto& entry : contents.header["tensors"]) {
      TensorBlob t;
      t.name = entry.at("name").get<std::string>();
      const auto dtype = entry.at("dtype").get<std::string>();
      if (dtype == "f32") {
        t.dtype = DType::kFloat32;
      } else if (dtype == "i64") {
        t.dtype = DType::kInt64;
      } else if (dtype == "u8") {
        t.dtype = DType::kUInt8;
      } else {
        throw fail("tensor '" + t.name + "': unknown dtype '" + dtype + "'");
      }
      t.shape = entry.at("shape").get<std::vector<std::int64_t>>();
      const auto offset = entry.at("offset").get<std::uint64_t>();
      const auto size = entry.at("bytes").get<std::uint64_t>();
      std::uint64_t expected = dtype_size(t.dtype);
      for (auto d : t.shape) {
        if (d < 0 || (d > 0 && expected > std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(d)))
          throw fail("tensor '" + t.name + "': bad shape");
        expected *= static_cast<std::uint64_t>(d);
      }
      if (expected != size || offset > data_bytes || size > data_bytes - offset)
        throw fail("tensor '" + t.name + "': its bytes do not fit its shape or the file");
      const auto* begin = bytes.data() + data_start + offset;
      t.data.assign(begin, begin + size);
      contents.tensors.push_back(std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("damaged tensor table: ") + e.what());
  }
  contents.header.erase("tensors");
  return contents;
}

void write_model_file(const std::filesystem::path& path, const ModelFileContents& contents) {
  const auto bytes = serialize_model_file(contents);
  write_file_atomically(path, bytes);
}

ModelFileContents read_model_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw ModelFileError(path.string() + ": cannot read the model: " + ec.message());
  if (size > kMaxFileBytes)
    throw ModelFileError(path.string() + ": not a model file: " + std::to_string(size) + " bytes");
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> bytes(size);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    throw ModelFileError(path.string() + ": cannot read the model: read error");
  return parse_model_file(bytes, path.string());
}

}  // namespace nextbeat::engine
