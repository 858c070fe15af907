#include "cpu/thread_table.hpp"

#include <array>
#include <atomic>

#include "pctx/cpu/cpu_set.hpp"

namespace pctx::cpu::internal {

namespace {

std::array<std::atomic<CpuThread*>, CpuSet::kMaxCpus>& table() {
  static std::array<std::atomic<CpuThread*>, CpuSet::kMaxCpus> t{};
  return t;
}

}  // namespace

CpuThread* thread_for(int cpu) {
  if (cpu < 0 || cpu >= CpuSet::kMaxCpus) return nullptr;
  return table()[static_cast<size_t>(cpu)].load(std::memory_order_acquire);
}

void set_thread_for(int cpu, CpuThread* thread) {
  table()[static_cast<size_t>(cpu)].store(thread, std::memory_order_release);
}

}  // namespace pctx::cpu::internal
