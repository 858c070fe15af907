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

// Sleeps while *word == expected; returns on wake, timeout, signal or a changed word.
inline void futex_wait(std::atomic<uint32_t>* word, uint32_t expected,
                       const timespec* timeout = nullptr) {
  base::lock_validator::might_block(base::lock_validator::Blocking::kFutexWait);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, timeout,
          nullptr, 0);
}

inline void futex_wake(std::atomic<uint32_t>* word, int count = 1) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr,
          0);
}

}  // namespace pctx::cpu::internal
