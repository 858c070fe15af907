#include "pctx/core/instant.hpp"

#include "core/instant_fast.hpp"
#include "core/pass_scope.hpp"
#include "pctx/base/tsc_clock.hpp"
#include "pctx/core/tsc_pmu.hpp"

namespace pctx::core {

using internal::kHaveNs;
using internal::kHaveTsc;
using internal::PassState;
using internal::tls_pass;

namespace internal {

constinit thread_local PassState tls_pass;
constinit thread_local uint64_t tls_last_ns = 0;

}  // namespace internal

// The pass's tsc, read at its first use in the pass; fresh outside a pass.
uint64_t pass_tsc() {
  return internal::pass_tsc_fast();
}

uint64_t pass_ns() {
  return internal::pass_ns_fast();
}

Instant take_instant() {
  return internal::take_instant_fast();
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
