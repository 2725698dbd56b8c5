#include "config/ConfigLoader.h"
#include "config/ConfigWriter.h"
#include "daemon/Commands.h"

namespace nextbeat::daemon {

int run_check_config(const std::string& path, const std::vector<std::string>& overrides, std::ostream& out,
                     std::ostream& err) {
  try {
    out << config::to_toml(config::load_config_file(path, overrides));
    return 0;
  } catch (const config::ConfigError& e) {
    for (const auto& issue : e.issues()) err << issue.to_string() << '\n';
    err << "nextbeat: " << e.issues().size() << (e.issues().size() == 1 ? " error" : " errors") << " in " << path
        << '\n';
    return 1;
  }
}

}  // namespace nextbeat::daemon
