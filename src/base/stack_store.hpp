// Stacks for the lock validator's reports: captured into a caller's buffer (by frame
// pointers where they can be followed, else with glibc's backtrace()), and kept for later
// reports in one fixed pool. Nothing allocates, so that the hooks may run inside a signal
// handler (cross-call handlers do); only a thread's first capture asks glibc for its
// stack's bounds.
#pragma once

#include <cstdint>

#include "pctx/base/lock_validator.hpp"

namespace pctx::base::lock_validator::internal {

inline constexpr int kMaxFrames = 20;

struct CapturedStack {
  const void* frames[kMaxFrames];
  int depth = 0;

  Stack view() const { return {frames, depth}; }
};

// Fills `out` with the current stack from `first` (the return address into the hook's
// caller) outwards, so that the validator's own frames are left out. The first call on a
// thread must not be inside a signal handler (the cpu layer's CPU threads make theirs
// when they start).
void capture(CapturedStack& out, const void* first);

// Learns this thread's stack bounds now, outside any signal handler.
void prepare_thread();

// Keeps a copy in the pool and returns its id; equal stacks share one. 0 when the pool is
// full. Only with the validator's global lock held.
uint32_t intern(const CapturedStack& stack);

// The stack an id names (empty for 0); valid until clear_stacks.
Stack stack_of(uint32_t id);

// Empties the pool. Only with the global lock held.
void clear_stacks();

}  // namespace pctx::base::lock_validator::internal
