// Calls the scheduling engine, which REQUIRES the context's lock, without it: must not
// compile.
#include "core/schedule.hpp"

namespace pctx::core {

void update_unlocked(Context* ctx) {
  internal::update_context_time(ctx);
}

}  // namespace pctx::core
