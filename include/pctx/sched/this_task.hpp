// What a task does to itself, like std::this_thread. Outside a task (a plain thread, or a
// CPU thread between tasks) none of them fails hard: current() is nullptr, cpu() is the
// CPU thread's CPU or -1, yield and sleep_for act on the calling thread as
// std::this_thread's do, need_resched is false and cond_resched does nothing, and
// migrate_to returns -EPERM.
//
// A task may resume on another CPU thread after any of these calls. Code that runs in
// tasks must not keep the address of a thread_local across them (errno included: read it
// right after the call that set it).
#pragma once

#include <chrono>

namespace pctx::sched {

class Task;

namespace this_task {

Task* current();  // nullptr outside a task
int cpu();        // the CPU the calling task (or CPU thread) runs on, else -1

// Gives the CPU to the next runnable task, if any.
void yield();
// The preemption point: yields when the time slice is over or the CPU is going offline.
// Cheap enough for inner loops (an atomic load).
void cond_resched();
bool need_resched();
void sleep_for(std::chrono::nanoseconds duration);
// Moves the calling task to `cpu` (its affinity becomes that CPU). -EINVAL for a CPU the
// runtime does not manage; -EAGAIN when it is offline.
int migrate_to(int cpu);

}  // namespace this_task
}  // namespace pctx::sched
