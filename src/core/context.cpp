#include "core/context.hpp"

#include "pctx/core/instant.hpp"

namespace pctx::core {

namespace {
std::atomic<long> g_contexts{0};
std::atomic<long> g_pmu_contexts{0};
}  // namespace

PmuContext::PmuContext() {
  g_pmu_contexts.fetch_add(1);
}
PmuContext::~PmuContext() {
  g_pmu_contexts.fetch_sub(1);
}
long PmuContext::alive() {
  return g_pmu_contexts.load();
}

Context::Context() {
  g_contexts.fetch_add(1);
}
Context::~Context() {
  g_contexts.fetch_sub(1);
}
long Context::alive() {
  return g_contexts.load();
}

Context* Context::create(Task* task, int cpu) {
  auto* c = new Context();
  c->task = task;
  c->cpu = cpu;
  // Two roles, two lock classes: a pass on a CPU takes its own context's lock, then the
  // task context's (the kernel's perf_ctx_lock order).
  c->lock.set_lock_class(task != nullptr ? "core.task_context.lock" : "core.cpu_context.lock");
  return c;
}

void Context::put() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

ContextRef::ContextRef(Context* ctx) : ctx_(ctx) {
  if (ctx_ != nullptr) ctx_->get();
}

ContextRef::~ContextRef() {
  if (ctx_ != nullptr) ctx_->put();
}

}  // namespace pctx::core
