// Writes an event's count without its context's lock (Event names that lock through
// internal::context_lock): must not compile.
#include "pctx/core/context.hpp"

namespace pctx::core {

void reset_unlocked(Event* e) {
  e->count = 0;
}

}  // namespace pctx::core
