// Thin futex wrappers (private futexes: the words never cross processes).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <ctime>

#include <atomic>
#include <cstdint>

#include "pctx/base/lock_validator.hpp"

namespace pctx::cpu::internal {

// Sleeps while *word == expected; returns on wake, timeout, signal or a changed word. No
// lock validator hook: for a wait that is part of an operation the caller has checked
// already (a cross-call's wait sleeps only when the target is slow, so a hook here would
// report the same call or not depending on the machine's load).
inline void futex_sleep(std::atomic<uint32_t>* word, uint32_t expected,
                        const timespec* timeout = nullptr) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, timeout,
          nullptr, 0);
}

// futex_sleep as a blocking call of its own, which the lock validator checks.
inline void futex_wait(std::atomic<uint32_t>* word, uint32_t expected,
                       const timespec* timeout = nullptr) {
  base::lock_validator::might_block(base::lock_validator::Blocking::kFutexWait);
  futex_sleep(word, expected, timeout);
}

inline void futex_wake(std::atomic<uint32_t>* word, int count = 1) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr,
          0);
}

}  // namespace pctx::cpu::internal
