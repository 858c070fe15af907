// The spin-wait hint (x86 `pause`): tells the core this is a busy-wait loop, which saves
// power and frees the sibling hyperthread.
#pragma once

namespace pctx::cpu {

inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

}  // namespace pctx::cpu
