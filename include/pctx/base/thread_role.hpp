// A thread role: a capability that no lock backs, held by the one thread that plays the role
// (the CPU thread of one CPU). State that only that thread touches is GUARDED_BY its role,
// so the analysis checks that nothing else reaches it, the way clang's documentation models
// "the main thread". Nothing acquires a role: the owner of the role says where a thread
// starts acting in it, with an assertion that debug builds check (CpuThread::assert_owner,
// RunQueue::assert_owner, CpuContext::assert_on_cpu), and everything called from there
// REQUIRES it.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "pctx/base/thread_annotations.hpp"

namespace pctx::base {

class PCTX_CAPABILITY("role") ThreadRole {
 public:
  ThreadRole() = default;
  ThreadRole(const ThreadRole&) = delete;
  ThreadRole& operator=(const ThreadRole&) = delete;
};

// The run-time half of a lock assertion (an assert_held, an assert_owner): the analysis took
// the claim on trust, so debug builds stop when `held()` is false. Release builds do not
// even call it: the assertions sit on the switch and read paths, and some checks call out
// of line (which CPU thread is this?), which the optimiser could not drop.
template <class Held>
inline void check_held([[maybe_unused]] Held&& held, [[maybe_unused]] const char* what) {
#ifndef NDEBUG
  if (!held()) {
    std::fprintf(stderr, "pctx: lock assertion failed: %s\n", what);
    std::abort();
  }
#endif
}

}  // namespace pctx::base
