// Contexts as their users hold them: an opaque core::Context* (a CPU's, borrowed from
// PerfCore::cpu_context, or a task's, owned through a ContextRef from
// PerfCore::task_context) that they pass back to the core to install events. The
// context's body, with its locks and group trees, is the core's own (src/core/context.hpp).
#pragma once

#include <utility>

namespace pctx::core {

class Context;

// An owning reference to a context: a new reference on copy, released on destruction.
class ContextRef {
 public:
  ContextRef() = default;
  explicit ContextRef(Context* ctx);  // takes a new reference
  ContextRef(const ContextRef& o) : ContextRef(o.ctx_) {}
  ContextRef(ContextRef&& o) noexcept : ctx_(o.ctx_) { o.ctx_ = nullptr; }
  ContextRef& operator=(ContextRef o) noexcept {
    std::swap(ctx_, o.ctx_);
    return *this;
  }
  ~ContextRef();

  Context* get() const { return ctx_; }
  explicit operator bool() const { return ctx_ != nullptr; }

 private:
  Context* ctx_ = nullptr;
};

}  // namespace pctx::core
