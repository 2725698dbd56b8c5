// The shared music data (../shared/data, or NEXTBEAT_SHARED_DATA at configure
// time) is not part of a clone. A test that needs it asks shared_data() for
// each path before anything else; when a path is missing, the test is
// skipped: one line on stdout,
//   SKIP: needs ../shared/data/piano_performance (the shared music data; not at /x/piano_performance)
// and exit status 77 (Skip.h). The few public-domain files the unit tests
// need are committed under tests/data (test_data()).
#pragma once

#include <filesystem>
#include <string>

namespace nextbeat::test {

// `relative` under the shared data; skips the test when it is not there.
std::filesystem::path shared_data(const std::string& relative);

// `relative` under tests/data (committed with the tests).
std::filesystem::path test_data(const std::string& relative);

}  // namespace nextbeat::test
