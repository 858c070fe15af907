// Marks a scheduling pass on this thread, for pass_tsc() and pass_ns() (instant.hpp).
#pragma once

#include "pctx/core/instant.hpp"

namespace pctx::core::internal {

class PassScope {
 public:
  // A pass at `at` (a task switch's instant), or, with nullptr, at an instant of its own,
  // read at first use.
  explicit PassScope(const Instant* at);
  ~PassScope();
  PassScope(const PassScope&) = delete;
  PassScope& operator=(const PassScope&) = delete;

 private:
  struct Saved {
    Instant instant;
    uint8_t have = 0;
    bool active = false;
  };
  Saved saved_;  // a pass inside a pass (not expected) gets the outer one back after
};

}  // namespace pctx::core::internal
