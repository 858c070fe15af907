// RCU for pctx objects, on liburcu's QSBR flavour: every CPU thread is a registered reader
// that reports a quiescent state in its loop, and goes offline while it sleeps. Readers
// pay nothing; writers defer frees until every CPU thread has passed a quiescent state.
#pragma once

namespace pctx::cpu::rcu {

void register_thread();
void unregister_thread();
void quiescent_state();
void thread_offline();
void thread_online();

// Waits for a grace period. Callable from any thread; a registered thread goes offline
// while it waits.
void synchronize();

// An object freed through RCU derives from Head and is passed to defer_free with the
// function that reclaims it. The function runs on liburcu's call_rcu worker thread, after
// a grace period.
struct Head {
  alignas(16) unsigned char storage[32];  // liburcu's struct rcu_head
  void (*reclaim)(Head*) = nullptr;
};

void defer_free(Head* head, void (*reclaim)(Head*));

template <class T>
void defer_delete(T* object) {
  defer_free(object, [](Head* h) { delete static_cast<T*>(h); });
}

// Waits until every deferred free queued so far has run.
void barrier();

}  // namespace pctx::cpu::rcu
