#include "CountingAllocator.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

// The replacements below are malloc/free underneath; GCC's heuristic does not see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NEXTBEAT_COUNT_C_ALLOCATION 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define NEXTBEAT_COUNT_C_ALLOCATION 0
#endif
#endif
#ifndef NEXTBEAT_COUNT_C_ALLOCATION
#define NEXTBEAT_COUNT_C_ALLOCATION 1
#endif

namespace {
// Plain thread-locals of the executable: initial-exec TLS, reading them never allocates.
thread_local bool t_armed = false;
thread_local std::uint64_t t_count = 0;

inline void count_one() noexcept {
  if (t_armed) ++t_count;
}
}  // namespace

namespace nextbeat::test {
void arm_allocation_count() noexcept {
  t_count = 0;
  t_armed = true;
}
void disarm_allocation_count() noexcept {
  t_armed = false;
}
std::uint64_t allocation_count() noexcept {
  return t_count;
}
bool c_functions_counted() noexcept {
  return NEXTBEAT_COUNT_C_ALLOCATION != 0;
}
}  // namespace nextbeat::test

#if NEXTBEAT_COUNT_C_ALLOCATION
// glibc's own entry points: the interposed functions below count, then call these.
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);

void* malloc(std::size_t size) noexcept {
  count_one();
  return __libc_malloc(size);
}
void* calloc(std::size_t n, std::size_t size) noexcept {
  count_one();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t size) noexcept {
  count_one();
  return __libc_realloc(p, size);
}
void* reallocarray(void* p, std::size_t n, std::size_t size) noexcept {
  count_one();
  if (size != 0 && n > static_cast<std::size_t>(-1) / size) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_realloc(p, n * size);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
  count_one();
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  count_one();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  count_one();
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(std::size_t size) noexcept {
  count_one();
  return __libc_valloc(size);
}
void* pvalloc(std::size_t size) noexcept {
  count_one();
  return __libc_pvalloc(size);
}
}  // extern "C"
#endif

// operator new, every form. Each counts once; the C functions they call
// count again when interposed, which only makes a count larger than 0.
namespace {
void* allocate(std::size_t size) noexcept {
  count_one();
  return std::malloc(size == 0 ? 1 : size);
}
void* allocate_aligned(std::size_t size, std::align_val_t alignment) noexcept {
  count_one();
  const auto a = std::max<std::size_t>(static_cast<std::size_t>(alignment), sizeof(void*));
  void* p = nullptr;
  return posix_memalign(&p, a, size == 0 ? 1 : size) == 0 ? p : nullptr;
}
}  // namespace

void* operator new(std::size_t size) {
  if (void* p = allocate(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = allocate(size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return allocate(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return allocate(size);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  if (void* p = allocate_aligned(size, alignment)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  if (void* p = allocate_aligned(size, alignment)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate_aligned(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate_aligned(size, alignment);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
