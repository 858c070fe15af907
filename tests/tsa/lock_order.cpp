// Takes a context's mutex while holding its spinlock, against the declared order (the
// mutex first): must not compile. Clang 14 checks the order only with -Wthread-safety-beta.
#include "core/context.hpp"

namespace pctx::core {

void out_of_order(Context* ctx) {
  cpu::IrqSpinLockGuard l(ctx->lock);
  base::MutexLock m(ctx->mutex);
}

}  // namespace pctx::core
