// A test that cannot run here (a tool, a file or a network feature is
// missing) says so in one line and exits with status 77, which the tests'
// SKIP_RETURN_CODE makes ctest report as "Skipped", not passed. ctest runs
// each Catch2 test case in a process of its own, so this ends one test case;
// run by hand, it ends the run there.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace nextbeat::test {

// Prints "SKIP: <why>" and exits with 77. Call it before the test creates
// anything that needs cleaning up: no destructor runs.
[[noreturn]] inline void skip_test(const std::string& why) {
  std::printf("SKIP: %s\n", why.c_str());
  std::fflush(stdout);
  std::_Exit(77);
}

}  // namespace nextbeat::test
