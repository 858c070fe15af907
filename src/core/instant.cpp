#include "pctx/core/instant.hpp"

#include <ctime>

#include "core/pass_scope.hpp"
#include "pctx/core/tsc_pmu.hpp"

namespace pctx::core {

namespace {

constexpr uint8_t kHaveTsc = 1;
constexpr uint8_t kHaveNs = 2;

// This thread's pass, if one is open. Plain thread-locals, as only this thread touches them:
// on a CPU thread, instants are taken and passes opened with irqs off, so a cross-call's
// signal cannot interleave with them, and a pass it opens later restores what it found.
struct PassState {
  Instant instant;
  uint8_t have = 0;  // which of the instant's readings were taken
  bool active = false;
  uint64_t next_id = 0;
};
thread_local PassState tls_pass;

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// One of the pass's readings, taken at its first use in the pass; fresh outside a pass.
uint64_t pass_reading(uint64_t Instant::*field, uint8_t bit, uint64_t (*read)()) {
  PassState& p = tls_pass;
  if (!p.active) return read();
  if (!(p.have & bit)) {
    p.instant.*field = read();
    p.have |= bit;
  }
  return p.instant.*field;
}

}  // namespace

uint64_t pass_tsc() {
  return pass_reading(&Instant::tsc, kHaveTsc, read_tsc);
}

uint64_t pass_ns() {
  return pass_reading(&Instant::ns, kHaveNs, monotonic_ns);
}

Instant take_instant() {
  return Instant{read_tsc(), monotonic_ns(), ++tls_pass.next_id};
}

bool instant_is_latest(const Instant& at) {
  return at.id != 0 && at.id == tls_pass.next_id;
}

uint64_t pass_instant_id() {
  return tls_pass.active ? tls_pass.instant.id : 0;
}

namespace internal {

PassScope::PassScope(const Instant* at) {
  PassState& p = tls_pass;
  saved_ = {p.instant, p.have, p.active};
  p.active = true;
  if (at != nullptr) {
    p.instant = *at;
    p.have = kHaveTsc | kHaveNs;
  } else {
    p.instant = Instant{0, 0, ++p.next_id};
    p.have = 0;
  }
}

PassScope::~PassScope() {
  PassState& p = tls_pass;
  p.instant = saved_.instant;
  p.have = saved_.have;
  p.active = saved_.active;
}

}  // namespace internal
}  // namespace pctx::core
