#include "pctx/cpu/rcu.hpp"

// liburcu inlines its fast paths only when this is defined (its documented switch).
#define _LGPL_SOURCE  // NOLINT(bugprone-reserved-identifier)
#include <urcu-qsbr.h>
#include <urcu/compiler.h>

#include <cstddef>

#include "cpu/tsan.hpp"
#include "pctx/base/lock_validator.hpp"

namespace pctx::cpu::rcu {

static_assert(sizeof(rcu_head) <= sizeof(Head::storage), "Head::storage too small for rcu_head");

namespace validator = base::lock_validator;

// A registered thread that is not offline is an RCU reader: with QSBR, everything it does
// between two quiescent states is one read-side section. The lock validator follows that
// state, to report a sleep or a grace-period wait inside such a section.
void register_thread() {
  rcu_register_thread();
  validator::rcu_reader_online();
}
void unregister_thread() {
  validator::rcu_reader_offline();
  rcu_unregister_thread();
}
void quiescent_state() {
  rcu_quiescent_state();
}
void thread_offline() {
  validator::rcu_reader_offline();
  rcu_thread_offline();
}
void thread_online() {
  rcu_thread_online();
  validator::rcu_reader_online();
}

void synchronize() {
  validator::might_block(validator::Blocking::kRcuSynchronize);
  synchronize_rcu();
}

namespace {

void run_reclaim(rcu_head* h) {
  Head* head =
      reinterpret_cast<Head*>(reinterpret_cast<unsigned char*>(h) - offsetof(Head, storage));
  internal::tsan_acquire(head);
  head->reclaim(head);
}

}  // namespace

void defer_free(Head* head, void (*reclaim)(Head*)) {
  head->reclaim = reclaim;
  internal::tsan_release(head);
  call_rcu(reinterpret_cast<rcu_head*>(head->storage), run_reclaim);
}

void barrier() {
  validator::might_block(validator::Blocking::kRcuSynchronize);
  rcu_barrier();
}

}  // namespace pctx::cpu::rcu
