#include "sched/fiber_switch.hpp"

#include <boost/context/fiber.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <boost/context/preallocated.hpp>

#include <cerrno>
#include <cstdint>
#include <exception>
#include <memory>

#include "pctx/base/lock_validator.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/sched/scheduler.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace pctx::sched {

namespace {

thread_local Task* tls_task = nullptr;

// The fiber's stack allocator, handed to Boost with the stack already mapped (see
// allocate_stack): Boost only calls deallocate, when the fiber has finished.
struct MappedStack {
  boost::context::stack_context allocate() { return {}; }  // never called: preallocated
  void deallocate(boost::context::stack_context& sc) noexcept {
    ::munmap(static_cast<char*>(sc.sp) - sc.size, sc.size);
  }
};

// The two halves of a stack switch, for the sanitizers. `save` is where the fiber being
// left keeps its fake stack (nullptr when it will never run again).
void start_switch([[maybe_unused]] void** save, [[maybe_unused]] const void* bottom,
                  [[maybe_unused]] size_t size, [[maybe_unused]] void* tsan_target) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(save, bottom, size);
#endif
#if defined(__SANITIZE_THREAD__)
  __tsan_switch_to_fiber(tsan_target, 0);
#endif
}

void finish_switch([[maybe_unused]] void* saved, [[maybe_unused]] const void** from_bottom,
                   [[maybe_unused]] size_t* from_size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(saved, from_bottom, from_size);
#endif
}

// Boost.Context resumes a fiber with an indirect jump, not a return, so the return stack
// buffer keeps the address that the switch's call pushed, and every return after the
// switch is mispredicted, one entry off (about 10 ns each here, four or five in a row).
// Where both sides switched from the same place (a task that gave the CPU straight to the
// next, resumed by one that did the same) a return to the next instruction drops that
// entry, at the cost of one misprediction, and the returns that follow are predicted.
// Not with shadow stacks (CET), where such a return would fault; the red zone below the
// stack pointer is stepped over.
inline void drop_stale_return_prediction() {
#if defined(__x86_64__) && !defined(__CET__)
  asm volatile(
      "subq $128, %%rsp\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "ret\n"
      "1:\n\t"
      "addq $128, %%rsp"
      :
      :
      : "rax", "memory");
#endif
}

}  // namespace

__attribute__((noinline)) Task* current_task() {
  return tls_task;
}

void TaskAccess::init_thread(RunQueue& rq) {
  // Declared where RunQueue is incomplete, so the role is asserted here, not required there.
  rq.assert_owner();
#if defined(__SANITIZE_THREAD__)
  rq.tsan_fiber = __tsan_get_current_fiber();
#endif
  rq.thread_init = true;
}

int TaskAccess::allocate_stack(Task& task, size_t stack_size) {
  if (stack_size < kMinStackSize) return -EINVAL;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  // Whole pages, plus the guard page below; a size near SIZE_MAX cannot be mapped anyway.
  if (stack_size > SIZE_MAX / 2) return -ENOMEM;
  const size_t total = (stack_size + page - 1) / page * page + page;
  void* base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) return -errno;
  // The guard page splits the mapping in two: checked, because past vm.max_map_count the
  // kernel refuses the split (ENOMEM) and the stack would have no guard.
  if (::mprotect(base, page, PROT_NONE) != 0) {
    const int err = -errno;
    ::munmap(base, total);
    return err;
  }
  task.stack_.sp = static_cast<char*>(base) + total;
  task.stack_.size = total;
  task.stack_bottom_ = base;
  task.stack_size_ = total;
#if defined(__SANITIZE_THREAD__)
  // Here, on the spawning thread, as before the fiber was built lazily. Created at the
  // first resume instead, on the CPU thread (where its timer and call signals arrive),
  // FairnessTest failed every run under TSan: a task's groups never rotated. The exact
  // mechanism inside TSan was not pinned down; creating it here passes.
  task.tsan_fiber_ = __tsan_create_fiber(0);
#endif
  return 0;
}

void TaskAccess::release_stack(Task& task) noexcept {
  if (task.stack_.sp == nullptr) return;  // the fiber owns it, or there is none
  MappedStack{}.deallocate(task.stack_);
  task.stack_ = {};
#if defined(__SANITIZE_THREAD__)
  __tsan_destroy_fiber(task.tsan_fiber_);  // never switched to
  task.tsan_fiber_ = nullptr;
#endif
}

// A task just resumed takes over from whoever resumed it, and `from` is that one's
// continuation. The loop resumes tasks; a task that yields may also switch straight to the
// next task (switch_to), leaving itself in rq->handoff: then `from` is that task, to be
// resumed later, and the loop's continuation it held is ours now. The sanitizers learn the
// loop's stack only from a switch that came from the loop.
inline void TaskAccess::adopt_resumer(Task& task, boost::context::fiber&& from) {
  RunQueue* rq = task.rq_;  // set by the resumer, which may be another CPU thread's loop
  rq->assert_owner();
  Task* left = rq->handoff;
  finish_switch(task.asan_fake_stack_, left != nullptr ? nullptr : &rq->stack_bottom,
                left != nullptr ? nullptr : &rq->stack_size);
  if (left == nullptr) {
    task.caller_ = std::move(from);
    return;
  }
  rq->handoff = nullptr;
  left->fiber_ = std::move(from);
  task.caller_ = std::move(left->caller_);
}

// Builds the fiber on the stack mapped at spawn; from here on the fiber owns the stack and
// unmaps it when it finishes.
void TaskAccess::start_fiber(Task& task) {
  Task* t = &task;
  boost::context::stack_context sc = task.stack_;
  task.stack_ = {};
  task.fiber_ = boost::context::fiber(
      std::allocator_arg, boost::context::preallocated(sc.sp, sc.size, sc), MappedStack{},
      [t](boost::context::fiber&& resumer) {
        // The task runs on the thread of the run queue that resumed it, in its role.
        t->rq_->assert_owner();
        adopt_resumer(*t, std::move(resumer));
        try {
          t->fn_();
        } catch (const std::exception& e) {
          t->failure_ = e.what();
        } catch (...) {
          t->failure_ = "unknown exception";
        }
        t->fn_ = nullptr;  // release what the function captured, in the task's context
        // The task stops being current here, and exits in its own context, as in the
        // kernel: its events go to Exit and its context is tombstoned before it switches
        // out for the last time. It may have moved: its run queue is rq_ as of now.
        t->rq_->assert_owner();
        t->scheduler_.perf_switch(*t->rq_, nullptr);
        t->scheduler_.core().exit_task(*t);
        t->reason_ = SwitchReason::kExit;
        RunQueue* rq = t->rq_;
        rq->assert_owner();
        rq->returning = t;
        start_switch(nullptr, rq->stack_bottom, rq->stack_size, rq->tsan_fiber);
        return std::move(t->caller_);
      });
}

// The loop's side: runs `task` until a task gives the CPU back to the loop. That may be
// another task, which `task` (or a task it switched to) switched to directly: `returned`
// says which, and why is its reason.
SwitchReason TaskAccess::resume(RunQueue& rq, Task& task, Task*& returned) {
  rq.assert_owner();
  task.rq_ = &rq;
  if (task.stack_.sp != nullptr) start_fiber(task);  // its first run
  tls_task = &task;
  start_switch(&rq.asan_fake_stack, task.stack_bottom_, task.stack_size_, task.tsan_fiber_);
  boost::context::fiber back = std::move(task.fiber_).resume();
  finish_switch(rq.asan_fake_stack, nullptr, nullptr);
  tls_task = nullptr;
  Task& who = *rq.returning;
  rq.returning = nullptr;
  who.fiber_ = std::move(back);
#if defined(__SANITIZE_THREAD__)
  if (!who.fiber_) {
    __tsan_destroy_fiber(who.tsan_fiber_);
    who.tsan_fiber_ = nullptr;
  }
#endif
  returned = &who;
  return who.reason_;
}

void TaskAccess::suspend(Task& task, SwitchReason reason) {
  // Locks and the irq depth belong to the CPU thread, not to the task, which may resume on
  // another thread: a switch with either held is reported.
  base::lock_validator::might_block(base::lock_validator::Blocking::kTaskSwitch);
  task.reason_ = reason;
  RunQueue* rq = task.rq_;
  rq->assert_owner();  // the task runs on its run queue's thread
  rq->returning = &task;
  start_switch(&task.asan_fake_stack_, rq->stack_bottom, rq->stack_size, rq->tsan_fiber);
  boost::context::fiber resumer = std::move(task.caller_).resume();
  // Resumed, perhaps by another CPU thread: rq_ is the run queue that resumed us.
  adopt_resumer(task, std::move(resumer));
}

// A task's side: `prev` (running) gives the CPU to `next` (picked, and switched to by the
// perf core already) without going through the loop. prev is resumed later by the loop or
// by another task, on this CPU or another.
void TaskAccess::switch_to(RunQueue& rq, Task& prev, Task& next) {
  base::lock_validator::might_block(base::lock_validator::Blocking::kTaskSwitch);
  rq.assert_owner();
  next.rq_ = &rq;
  if (next.stack_.sp != nullptr) start_fiber(next);  // its first run
  tls_task = &next;
  rq.handoff = &prev;
  start_switch(&prev.asan_fake_stack_, next.stack_bottom_, next.stack_size_, next.tsan_fiber_);
  boost::context::fiber resumer = std::move(next.fiber_).resume();
  drop_stale_return_prediction();
  adopt_resumer(prev, std::move(resumer));
}

void TaskAccess::yield(Task& task) {
  RunQueue& rq = *task.rq_;
  rq.assert_owner();  // the task runs on its run queue's thread
  if (!task.scheduler_.switch_directly(rq, task)) suspend(task, SwitchReason::kYield);
}

}  // namespace pctx::sched
