// The only file that knows where the data is: moving the shared data
// recompiles this file, not every test.
#include "SharedData.h"

#include "Skip.h"

#ifndef NEXTBEAT_SHARED_DATA
#error "NEXTBEAT_SHARED_DATA must name the shared music data (tests/CMakeLists.txt)"
#endif
#ifndef NEXTBEAT_TEST_DATA
#error "NEXTBEAT_TEST_DATA must name tests/data"
#endif

namespace nextbeat::test {

std::filesystem::path shared_data(const std::string& relative) {
  const std::filesystem::path path = std::filesystem::path(NEXTBEAT_SHARED_DATA) / relative;
  if (!std::filesystem::exists(path)) {
    skip_test("needs ../shared/data/" + relative + " (the shared music data; not at " + path.string() + ")");
  }
  return path;
}

std::filesystem::path test_data(const std::string& relative) {
  return std::filesystem::path(NEXTBEAT_TEST_DATA) / relative;
}

}  // namespace nextbeat::test
