// How a caller waits for its synchronous cross-call (cross_call.cpp), in the mailbox or in
// the express lane: on the call's `done` word (1 when finished; 2 while the caller sleeps
// on it as a futex, which the target then wakes).
#pragma once

#include <atomic>
#include <cstdint>

namespace pctx::cpu::internal {

void wait_done(std::atomic<uint32_t>& done);

}  // namespace pctx::cpu::internal
