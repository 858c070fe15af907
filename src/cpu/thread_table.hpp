// The process-wide table from CPU number to its CpuThread, read on every cross-call.
#pragma once

#include "pctx/cpu/cpu_thread.hpp"

namespace pctx::cpu::internal {

CpuThread* thread_for(int cpu);
void set_thread_for(int cpu, CpuThread* thread);

}  // namespace pctx::cpu::internal
