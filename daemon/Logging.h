// One leveled logger for the whole process (spdlog's default logger). Logs go
// to stderr; under systemd (JOURNAL_STREAM set) to the journal, with levels
// mapped to syslog priorities. Never log from a real-time callback thread.
#pragma once

#include <string_view>

#include "config/Config.h"

namespace nextbeat::daemon {

void init_logging(config::LogLevel level);
void set_log_level(config::LogLevel level);

}  // namespace nextbeat::daemon
