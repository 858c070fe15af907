// Every rule the cases here break, kept: this must compile (see CMakeLists.txt).
#include "core/cpu_context.hpp"
#include "core/schedule.hpp"

namespace pctx::core {

int read_under_lock(Context* ctx) {
  cpu::IrqSpinLockGuard l(ctx->lock);
  internal::update_context_time(ctx);
  return ctx->nr_events;
}

void reset_under_lock(Event* e) {
  cpu::IrqSpinLockGuard l(e->ctx->lock);
  e->time_enabled = 0;
}

void in_order(Context* ctx) {
  base::MutexLock m(ctx->mutex);
  cpu::IrqSpinLockGuard l(ctx->lock);
}

void on_cpu(CpuContext& cc) {
  cc.assert_on_cpu();
  cc.current = nullptr;
}

}  // namespace pctx::core
