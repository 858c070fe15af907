#include "pctx/core/instant.hpp"

#include "core/pass_scope.hpp"
#include "pctx/base/tsc_clock.hpp"
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

// CLOCK_MONOTONIC at a tsc reading of this thread (tsc_clock.hpp), never below the last it
// gave here: instants and passes take it with irqs off on CPU threads, so no handler
// interleaves with the maximum's update, and a switch's record of time on CPU is never
// negative across a new anchor of the clock.
thread_local uint64_t tls_last_ns = 0;

uint64_t ns_of(uint64_t tsc) {
  const uint64_t ns = base::ns_at_tsc(tsc);
  if (ns <= tls_last_ns) return tls_last_ns;
  tls_last_ns = ns;
  return ns;
}

}  // namespace

// The pass's tsc, read at its first use in the pass; fresh outside a pass.
uint64_t pass_tsc() {
  PassState& p = tls_pass;
  if (!p.active) return read_tsc();
  if (!(p.have & kHaveTsc)) {
    p.instant.tsc = read_tsc();
    p.have |= kHaveTsc;
  }
  return p.instant.tsc;
}

// The pass's clock, derived from its tsc: a pass reads the tsc once for both.
uint64_t pass_ns() {
  PassState& p = tls_pass;
  if (!p.active) return ns_of(read_tsc());
  if (!(p.have & kHaveNs)) {
    p.instant.ns = ns_of(pass_tsc());
    p.have |= kHaveNs;
  }
  return p.instant.ns;
}

Instant take_instant() {
  const uint64_t tsc = read_tsc();
  return Instant{tsc, ns_of(tsc), ++tls_pass.next_id};
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
  // Member by member: built as one aggregate, the copy read back bytes just stored in
  // pieces, a store-forwarding stall on every pass.
  saved_.instant = p.instant;
  saved_.have = p.have;
  saved_.active = p.active;
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
