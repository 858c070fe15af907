#include "pctx/cpu/rcu.hpp"

// liburcu inlines its fast paths only when this is defined (its documented switch).
#define _LGPL_SOURCE  // NOLINT(bugprone-reserved-identifier)
#include <urcu-qsbr.h>
#include <urcu/compiler.h>

#include <cstddef>

#include "cpu/tsan.hpp"

namespace pctx::cpu::rcu {

static_assert(sizeof(rcu_head) <= sizeof(Head::storage), "Head::storage too small for rcu_head");

void register_thread() {
  rcu_register_thread();
}
void unregister_thread() {
  rcu_unregister_thread();
}
void quiescent_state() {
  rcu_quiescent_state();
}
void thread_offline() {
  rcu_thread_offline();
}
void thread_online() {
  rcu_thread_online();
}

void synchronize() {
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
  rcu_barrier();
}

}  // namespace pctx::cpu::rcu
