// A full memory barrier (StoreLoad included), for the Dekker-style handshakes between a
// sender and a CPU thread going to sleep or becoming busy: one side stores, fences, then
// loads what the other side stored. One side's store is liburcu's queue link, which is no
// C++ atomic, so the fence cannot become a seq_cst store/load pair.
#pragma once

#include <atomic>

namespace pctx::cpu::internal {

inline void full_fence() {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer does not model standalone fences (GCC refuses them under -Werror); a
  // seq_cst read-modify-write is a full barrier on x86 as well, and TSan understands it.
  static std::atomic<int> word;
  word.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace pctx::cpu::internal
