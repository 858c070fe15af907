#include "pctx/core/tsc_pmu.hpp"

#include <cerrno>

#include "core/instant_fast.hpp"

namespace pctx::core {

int TscPmu::init(PmuEvent& event) {
  if (event.config != 0) return -EINVAL;
  event.direct_read = DirectRead::kTsc;  // a read in place needs the instant's tsc alone
  return 0;
}

// One rdtsc per pass, whatever the number of events (pass_tsc), and none of its own in a
// task switch, whose instant the scheduler took.
int TscPmu::add(PmuEvent& event) {
  event.hw_prev = internal::pass_tsc_fast();
  return 0;
}

void TscPmu::read(PmuEvent& event) {
  const uint64_t now = internal::pass_tsc_fast();
  // The counter never runs back: a pass at an instant older than the event's last reading
  // (not expected: a switch reuses an instant only while no pass has read since) counts
  // nothing rather than wrapping.
  if (now <= event.hw_prev) return;
  event.count += now - event.hw_prev;
  event.hw_prev = now;
}

void TscPmu::del(PmuEvent& event) {
  read(event);
}

}  // namespace pctx::core
