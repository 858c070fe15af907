#include "tools/signals.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>  // sigabbrev_np

#include "pctx/base/errno_text.hpp"

namespace pctx::tools {

base::Status install_handlers(std::span<const int> signals, const struct sigaction& action,
                              struct sigaction* previous) {
  for (size_t i = 0; i < signals.size(); ++i) {
    if (sigaction(signals[i], &action, &previous[i]) != 0) {
      const int err = errno;
      restore_handlers(signals.first(i), previous);
      return base::make_error(-err, fmt::format("cannot install a handler for {}: {}",
                                                sigabbrev_np(signals[i]), base::errno_text(err)));
    }
  }
  return base::Ok{};
}

void restore_handlers(std::span<const int> signals, const struct sigaction* previous) {
  // Putting back an action the kernel gave us for the same signal cannot be refused.
  for (size_t i = 0; i < signals.size(); ++i) (void)sigaction(signals[i], &previous[i], nullptr);
}

}  // namespace pctx::tools
