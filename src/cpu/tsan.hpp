// ThreadSanitizer annotations for synchronisation it cannot see: liburcu's queue links
// nodes with inline-assembly xchg and volatile accesses, and its call_rcu worker is not
// instrumented. Each hand-off through them is declared as a release/acquire pair on the
// object handed off. No-ops in other builds.
#pragma once

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace pctx::cpu::internal {

inline void tsan_release([[maybe_unused]] void* object) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(object);
#endif
}

inline void tsan_acquire([[maybe_unused]] void* object) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(object);
#endif
}

}  // namespace pctx::cpu::internal
