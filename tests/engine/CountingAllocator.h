// Counts the heap allocations made by one thread, for the tests that hold
// the engine thread to "never allocates after warm-up" (docs/THREADS.md).
// Linked into a test binary (CountingAllocator.cpp), it replaces every
// operator new (plain, array, aligned, nothrow) and interposes the C
// allocation functions (malloc, calloc, realloc, aligned_alloc,
// posix_memalign, memalign, valloc, pvalloc, reallocarray) for the whole
// process, LibTorch included. Only a thread that armed itself counts, so
// other threads (LibTorch's pools, Catch) cannot make the test fail or pass.
// Under AddressSanitizer or ThreadSanitizer the C functions are the
// sanitizer's and only operator new is counted (c_functions_counted()).
#pragma once

#include <cstdint>

namespace nextbeat::test {

// Counting on the calling thread starts (from 0) / stops.
void arm_allocation_count() noexcept;
void disarm_allocation_count() noexcept;
// Allocations made by the calling thread since it armed.
std::uint64_t allocation_count() noexcept;
// Whether malloc and its kin are counted in this build.
bool c_functions_counted() noexcept;

// Arms the calling thread for its lifetime.
class CountAllocations {
 public:
  CountAllocations() noexcept { arm_allocation_count(); }
  ~CountAllocations() { disarm_allocation_count(); }
  CountAllocations(const CountAllocations&) = delete;
  CountAllocations& operator=(const CountAllocations&) = delete;
  std::uint64_t count() const noexcept { return allocation_count(); }
};

}  // namespace nextbeat::test
