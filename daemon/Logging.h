// One leveled logger for the whole process (spdlog's default logger). Logs go
// to stderr; under systemd (JOURNAL_STREAM set) to the journal, with levels
// mapped to syslog priorities. Never log from a real-time callback thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "config/Config.h"

namespace nextbeat::daemon {

void init_logging(config::LogLevel level);
void set_log_level(config::LogLevel level);

// Text from outside (an OSC string, a file name) as a log line may carry it:
// control characters escaped (\n, \x1b), at most `max` bytes, "..." after a cut.
// A path with a newline cannot forge a log line, a 60 KB one cannot flood it.
std::string printable(std::string_view text, std::size_t max = 200);

}  // namespace nextbeat::daemon
