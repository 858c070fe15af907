// What a kernel counter counts: the calling thread, another thread, or a whole CPU.
#pragma once

#include <sys/types.h>

#include <string>

namespace pctx::pmu {

struct Target {
  enum class Kind { kThisThread, kThread, kCpu };
  Kind kind = Kind::kThisThread;
  pid_t tid = 0;
  int cpu = -1;

  static Target this_thread() { return {}; }
  // A thread by its id, which must be positive: the kernel takes 0 as "the caller", so
  // CounterGroup::open refuses thread(0) (-EINVAL) rather than count the wrong thread.
  static Target thread(pid_t tid) { return {Kind::kThread, tid, -1}; }
  static Target on_cpu(int cpu) { return {Kind::kCpu, -1, cpu}; }

  // perf_event_open's pid and cpu arguments.
  pid_t pid_arg() const { return kind == Kind::kCpu ? -1 : kind == Kind::kThread ? tid : 0; }
  int cpu_arg() const { return kind == Kind::kCpu ? cpu : -1; }

  std::string describe() const;  // "this thread", "thread 1234", "CPU 1"
};

}  // namespace pctx::pmu
