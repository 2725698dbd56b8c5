// Replacing a file so that readers (and a crash or power cut) see either the
// old contents or the new, never a torn mix: model files, checkpoints, plots.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

namespace nextbeat::engine {

// Writes `bytes` to a new temporary file in the same directory as `path`
// (".NAME.tmp.PID.N"), fsyncs it, renames it over `path` and fsyncs the
// directory. An existing file keeps its permission bits; a new one gets
// 0666 & ~umask. A symlink at `path` is replaced, not followed. Errors throw
// std::system_error naming the path, the step and errno's text. A failure up
// to the rename removes the temporary file and leaves `path` as it was; one
// in the final directory fsync is reported too, with the new file in place.
// Safe to call from several threads or processes at once (the last rename
// wins). Not for real-time threads: it blocks on the disk.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);
void write_text_file_atomically(const std::filesystem::path& path, std::string_view text);

}  // namespace nextbeat::engine
