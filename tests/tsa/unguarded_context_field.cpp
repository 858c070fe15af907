// Reads a field of Context that its spinlock guards, without it: must not compile.
#include "core/context.hpp"

namespace pctx::core {

int read_unlocked(Context* ctx) {
  return ctx->nr_events;
}

}  // namespace pctx::core
