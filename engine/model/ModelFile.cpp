#include "engine/model/ModelFile.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>

#include "engine/util/AtomicFile.h"
#include "engine/util/InputFile.h"
#include "engine/util/JsonLimits.h"

namespace nextbeat::engine {
namespace {

constexpr std::array<char, 8> kMagic{'N', 'X', 'T', 'B', 'E', 'A', 'T', '\0'};
constexpr std::array<char, 4> kEnd{'E', 'N', 'D', '\0'};
constexpr std::size_t kPreambleBytes = 8 + 4 + 4 + 8;
constexpr std::size_t kTrailerBytes = 4 + 4;
// A bundled model is a few MB; a big one a few hundred. Anything above this is
// not a model, and refusing it early bounds memory on a hostile file.
constexpr std::uint64_t kMaxFileBytes = std::uint64_t{2} << 30;
// Ours are a few KB (spec, provenance, metrics, the tensor table).
constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t{16} << 20;
// An LSTM of 16 layers with a head, embeddings and a trainer's state has
// under a hundred tensors.
constexpr std::size_t kMaxTensors = 4096;
constexpr std::size_t kMaxRank = 8;

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

std::optional<DType> dtype_named(const std::string& name) {
  if (name == "f32") return DType::kFloat32;
  if (name == "i64") return DType::kInt64;
  if (name == "u8") return DType::kUInt8;
  return std::nullopt;
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

namespace {

// What the preamble and header of a model file say, checked before the tensor
// data is touched (or, reading from disk, read).
struct Layout {
  nlohmann::json header;
  std::uint64_t header_bytes = 0;
  std::uint64_t data_bytes = 0;  // what the tensor table says the data takes
  std::uint64_t file_bytes() const { return kPreambleBytes + header_bytes + data_bytes + kTrailerBytes; }
};

ModelFileError file_error(const std::string& source, const std::string& what) {
  return ModelFileError(source + ": " + what);
}

const nlohmann::json& table_field(const nlohmann::json& entry, const char* key, const std::string& where) {
  const auto it = entry.find(key);
  if (it == entry.end()) throw ModelFileError(where + "." + key + ": missing");
  return *it;
}

std::uint64_t unsigned_field(const nlohmann::json& entry, const char* key, const std::string& where) {
  const auto& value = table_field(entry, key, where);
  if (!value.is_number_unsigned()) throw ModelFileError(where + "." + key + ": expected a whole number >= 0");
  return value.get<std::uint64_t>();
}

// The preamble: magic, version, header length. `prefix` holds at least the
// preamble; `file_bytes` is the whole file's size.
std::uint64_t check_preamble(std::span<const std::uint8_t> prefix, std::uint64_t file_bytes,
                             const std::string& source) {
  if (prefix.size() < kMagic.size() || !std::equal(kMagic.begin(), kMagic.end(), prefix.begin())) {
    std::string hint;
    if (prefix.size() >= 2 && prefix[0] == 'P' && prefix[1] == 'K') hint = " (it looks like a zip/PyTorch archive)";
    throw file_error(source, "not a nextbeat model file: it does not start with NXTBEAT" + hint);
  }
  if (file_bytes < kPreambleBytes + kTrailerBytes || prefix.size() < kPreambleBytes)
    throw file_error(source, "truncated: only " + std::to_string(file_bytes) + " bytes");
  const auto version = get<std::uint32_t>(prefix, 8);
  if (version != kModelFormatVersion)
    throw file_error(source, "model format version " + std::to_string(version) + ", this nextbeat reads version " +
                                 std::to_string(kModelFormatVersion));
  const auto header_bytes = get<std::uint64_t>(prefix, 16);
  if (header_bytes > kMaxHeaderBytes)
    throw file_error(source, "damaged header: " + std::to_string(header_bytes) + " bytes long, more than the " +
                                 std::to_string(kMaxHeaderBytes) + " a header may have");
  if (header_bytes > file_bytes - kPreambleBytes - kTrailerBytes)
    throw file_error(source, "damaged: header length past the end of the file");
  return header_bytes;
}

// The header JSON and its tensor table, strictly: every field of the right
// type (a shape of 88.5 is refused, not read as 88), every tensor inside the
// data and the data exactly as long as the table says.
Layout parse_header(std::span<const std::uint8_t> header_text, const std::string& source) {
  Layout layout;
  layout.header_bytes = header_text.size();
  const std::string_view text(reinterpret_cast<const char*>(header_text.data()), header_text.size());
  if (const auto at = json_too_deep_at(text))
    throw file_error(source, "damaged header: JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                                 " levels at header byte " + std::to_string(*at));
  try {
    layout.header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw file_error(source, std::string("damaged header: ") + e.what());
  }
  if (!layout.header.is_object()) throw file_error(source, "damaged header: expected a JSON object");
  const auto tensors = layout.header.find("tensors");
  if (tensors == layout.header.end() || !tensors->is_array())
    throw file_error(source, "damaged header: no tensor table (\"tensors\": [...])");
  if (tensors->size() > kMaxTensors)
    throw file_error(source, "damaged header: " + std::to_string(tensors->size()) + " tensors, more than " +
                                 std::to_string(kMaxTensors));
  for (std::size_t i = 0; i < tensors->size(); ++i) {
    const auto& entry = (*tensors)[i];
    const std::string where = source + ": tensors[" + std::to_string(i) + "]";
    if (!entry.is_object()) throw ModelFileError(where + ": expected an object");
    if (!table_field(entry, "name", where).is_string()) throw ModelFileError(where + ".name: expected a string");
    const auto& dtype = table_field(entry, "dtype", where);
    if (!dtype.is_string() || !dtype_named(dtype.get<std::string>()))
      throw ModelFileError(where + ".dtype: expected \"f32\", \"i64\" or \"u8\"");
    const auto& shape = table_field(entry, "shape", where);
    if (!shape.is_array() || shape.size() > kMaxRank)
      throw ModelFileError(where + ".shape: expected an array of at most " + std::to_string(kMaxRank) +
                           " whole numbers");
    std::uint64_t expected = dtype_size(*dtype_named(dtype.get<std::string>()));
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) throw ModelFileError(where + ".shape: expected whole numbers >= 0, got " + d.dump());
      const auto n = d.get<std::uint64_t>();
      if (n > 0 && expected > std::numeric_limits<std::uint64_t>::max() / n)
        throw ModelFileError(where + ".shape: too large");
      expected *= n;
    }
    const auto offset = unsigned_field(entry, "offset", where);
    const auto size = unsigned_field(entry, "bytes", where);
    if (expected != size) throw ModelFileError(where + ".bytes: " + std::to_string(size) + " does not match its shape");
    if (offset > kMaxFileBytes || size > kMaxFileBytes - offset)
      throw ModelFileError(where + ": past the largest model file");
    layout.data_bytes = std::max(layout.data_bytes, offset + size);
  }
  return layout;
}

}  // namespace

ModelFileContents parse_model_file(std::span<const std::uint8_t> bytes, const std::string& source) {
  const std::uint64_t header_bytes = check_preamble(bytes, bytes.size(), source);
  Layout layout = parse_header(bytes.subspan(kPreambleBytes, header_bytes), source);
  if (layout.file_bytes() != bytes.size())
    throw file_error(source, "truncated or damaged: the tensor table says " + std::to_string(layout.file_bytes()) +
                                 " bytes, the file has " + std::to_string(bytes.size()));
  const std::size_t body = bytes.size() - kTrailerBytes;
  if (!std::equal(kEnd.begin(), kEnd.end(), bytes.begin() + static_cast<std::ptrdiff_t>(body) + 4))
    throw file_error(source, "truncated or damaged: the end marker is missing (was the file cut short?)");
  const auto stored_crc = get<std::uint32_t>(bytes, body);
  if (stored_crc != crc32_of(bytes.first(body))) throw file_error(source, "damaged: CRC-32 mismatch");

  ModelFileContents contents;
  const std::size_t data_start = kPreambleBytes + header_bytes;
  for (const auto& entry : layout.header["tensors"]) {
    TensorBlob t;
    t.name = entry["name"].get<std::string>();
    t.dtype = *dtype_named(entry["dtype"].get<std::string>());
    t.shape = entry["shape"].get<std::vector<std::int64_t>>();
    const auto offset = entry["offset"].get<std::uint64_t>();
    const auto* begin = bytes.data() + data_start + offset;
    t.data.assign(begin, begin + entry["bytes"].get<std::uint64_t>());
    contents.tensors.push_back(std::move(t));
  }
  layout.header.erase("tensors");
  contents.header = std::move(layout.header);
  return contents;
}

void write_model_file(const std::filesystem::path& path, const ModelFileContents& contents) {
  const auto bytes = serialize_model_file(contents);
  write_file_atomically(path, bytes);
}

ModelFileContents read_model_file(const std::filesystem::path& path) {
  const std::string source = path.string();
  try {
    // The preamble and header first: a file that is not a model, or whose
    // size is not what its header says, is refused before its bulk is read
    // (a sparse file of gigabytes costs nothing).
    const InputFile file(path);
    std::vector<std::uint8_t> prefix(static_cast<std::size_t>(std::min<std::uint64_t>(file.size(), kPreambleBytes)));
    prefix.resize(file.read_at(0, prefix));
    const std::uint64_t header_bytes = check_preamble(prefix, file.size(), source);
    std::vector<std::uint8_t> header(static_cast<std::size_t>(header_bytes));
    if (file.read_at(kPreambleBytes, header) != header.size()) throw file_error(source, "truncated while reading");
    const Layout layout = parse_header(header, source);
    if (layout.file_bytes() != file.size())
      throw file_error(source, "truncated or damaged: the tensor table says " + std::to_string(layout.file_bytes()) +
                                   " bytes, the file has " + std::to_string(file.size()));
    return parse_model_file(file.read_all(kMaxFileBytes, "a model file"), source);
  } catch (const InputFileError& e) {
    throw ModelFileError(std::string("cannot read the model: ") + e.what());
  }
}

}  // namespace nextbeat::engine
