// Writes an event's times without its context's lock (Event names that lock through
// internal::context_lock): must not compile. (Its count is in the driver's PmuEvent part,
// which cannot name the context; the times change with it, under the same lock.)
#include "core/context.hpp"

namespace pctx::core {

void reset_unlocked(Event* e) {
  e->time_enabled = 0;
}

}  // namespace pctx::core
