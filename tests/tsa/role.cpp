// Changes a CPU context's current task without being its CPU's thread (no assert_on_cpu):
// must not compile.
#include "core/cpu_context.hpp"

namespace pctx::core {

void off_cpu(CpuContext& cc) {
  cc.current = nullptr;
}

}  // namespace pctx::core
