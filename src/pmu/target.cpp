#include "pctx/pmu/target.hpp"

#include <fmt/format.h>

namespace pctx::pmu {

std::string Target::describe() const {
  switch (kind) {
    case Kind::kThisThread:
      return "this thread";
    case Kind::kThread:
      return fmt::format("thread {}", tid);
    case Kind::kCpu:
      return fmt::format("CPU {}", cpu);
  }
  return "?";
}

}  // namespace pctx::pmu
