// CPU hotplug through sysfs, with the kernel's cpuhp idea: steps ordered by a named stage
// (HotplugStage, the kernel's enum cpuhp_state) run on bringup in stage order after the CPU
// is online, and in reverse order on teardown before it goes offline. Each layer registers
// its step at its own stage (unpark the CPU thread, schedule the CPU's contexts in, place
// tasks), whatever the order in which the layers start. One operation at a time.
//
// Hotplug done by someone else (a raw sysfs write) is detected through kernel uevents,
// reconciled against /sys/devices/system/cpu/online, and the same steps run after the
// fact. A CPU thread that finds itself off its CPU also triggers a reconcile.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pctx/base/mutex.hpp"
#include "pctx/base/result.hpp"
#include "pctx/cpu/cpu_set.hpp"
#include "pctx/cpu/hotplug_journal.hpp"
#include "pctx/cpu/topology.hpp"

namespace pctx::cpu {

class CpuRuntime;

// The stages, in bringup order; teardown runs them in reverse. One step per stage.
enum class HotplugStage : uint8_t {
  kCpuThread,    // the CPU runtime: its thread re-pinned and taking calls (parked last)
  kPerfCore,     // the perf core: the CPU's own context scheduled in (out before the park)
  kScheduler,    // the scheduler: tasks placed on the CPU (moved away before the core's)
  kApplication,  // the application's own, once pctx's are up (pctx run's timeline)
};
const char* to_string(HotplugStage stage);

struct HotplugStep {
  HotplugStage stage;
  std::string name;                      // for messages: "step 'perf-core' failed"
  std::function<int(int cpu)> bringup;   // after the CPU is online; -errno fails cpu_up
  std::function<int(int cpu)> teardown;  // before the CPU goes offline; -errno fails cpu_down
};

struct HotplugEvent {
  enum class Kind { kDown, kUp, kExternalDown, kExternalUp };
  Kind kind;
  int cpu;
  std::chrono::nanoseconds took;  // the whole operation, or detection to reconciled
};

struct HotplugOptions {
  bool allow_cpu0 = false;                       // CPU 0 is left alone unless asked
  bool restore_on_exit = true;                   // bring back what this process took down
  bool watch = false;                            // run the watcher thread (uevents + sysfs)
  std::chrono::milliseconds poll_interval{500};  // sysfs reconcile without uevents
  std::string journal = HotplugJournal::default_path();
};

// One kind of problem that check_all found in a request, with every CPU it concerns.
struct HotplugProblem {
  enum class Kind {
    kNotPresent,       // no such CPU
    kNotHotpluggable,  // no online file (CPU 0 on most x86 kernels)
    kCpu0,             // CPU 0 without allow_cpu0
    kLastOnline,       // going down would leave no CPU online
    kNeedsRoot,        // the online files are not writable here
  };
  Kind kind;
  CpuSet cpus;
  int code = 0;         // -errno, as cpu_down and cpu_up return for it
  std::string message;  // one line that names the CPUs as a kernel list
  // Whether the request itself is wrong, rather than the environment (root).
  bool bad_input() const { return kind != Kind::kNeedsRoot; }
};

// What check_all found: nothing, or one problem per kind, in Kind order.
struct HotplugCheck {
  std::vector<HotplugProblem> problems;
  bool ok() const { return problems.empty(); }
  bool bad_input() const;                                       // any problem is the request's own
  const HotplugProblem* find(HotplugProblem::Kind kind) const;  // nullptr if none
  std::string message() const;  // one line per problem, '\n'-separated
  base::Status status() const;  // Ok, or the first problem's code with message()
};

class Hotplug {
 public:
  explicit Hotplug(HotplugOptions options = {});
  ~Hotplug();
  Hotplug(const Hotplug&) = delete;
  Hotplug& operator=(const Hotplug&) = delete;

  // Steps run for the CPUs in `managed` (all CPUs when empty), in stage order whatever the
  // order of the calls. -EEXIST (nothing added) when the stage has a step already.
  base::Status add_step(HotplugStep step) PCTX_EXCLUDES(mutex_);
  // For a layer that stops before the runtime.
  void remove_step(HotplugStage stage) PCTX_EXCLUDES(mutex_);
  // Those with a step, in bringup order.
  std::vector<HotplugStage> stages() const PCTX_EXCLUDES(mutex_);
  void set_managed(const CpuSet& managed) PCTX_EXCLUDES(mutex_);

  base::Status cpu_down(int cpu) PCTX_EXCLUDES(mutex_);
  base::Status cpu_up(int cpu) PCTX_EXCLUDES(mutex_);  // returns once every bringup step has run

  // Checks a whole request (offline when `online` is false) without changing anything:
  // every CPU present, hotpluggable, CPU 0 only with allow_cpu0, at least one CPU left
  // online, and the online files writable. cpu_down and cpu_up make the same checks.
  HotplugCheck check_all(const CpuSet& cpus, bool online) const;

  // Takes every CPU of `cpus` offline, or brings every one online, all or nothing: the
  // whole list is checked first, and when one operation fails, those already done are
  // undone and the error (one line) says what failed and what was undone. Returns the
  // CPUs whose state changed; CPUs already in the asked state are left as they are.
  base::Result<CpuSet> apply_all(const CpuSet& cpus, bool online);

  // Runs the steps for changes made by others. The watcher calls it; so may anyone.
  void reconcile() PCTX_EXCLUDES(mutex_);
  void notify();  // something may have changed: wake the watcher now

  CpuSet online() const PCTX_EXCLUDES(mutex_);  // the CPUs whose steps are all up
  // Reloaded after every change, ours or someone else's.
  Topology topology() const PCTX_EXCLUDES(mutex_);
  std::vector<HotplugEvent> history() const PCTX_EXCLUDES(mutex_);
  bool watching_uevents() const { return uevent_fd_ >= 0; }
  uint64_t cpu_uevents() const { return cpu_uevents_.load(); }  // CPU uevents received
  HotplugJournal& journal() { return journal_; }

 private:
  std::string undo(const CpuSet& changed, bool online);
  int run_bringup(int cpu, size_t* done) PCTX_REQUIRES(mutex_);
  void run_teardown(int cpu, size_t from) PCTX_REQUIRES(mutex_);
  void record(HotplugEvent::Kind kind, int cpu, std::chrono::steady_clock::time_point start)
      PCTX_REQUIRES(mutex_);
  void watch_loop();
  void reload_topology() PCTX_REQUIRES(mutex_);
  bool managed(int cpu) const PCTX_REQUIRES(mutex_) {
    return managed_.empty() || managed_.test(cpu);
  }

  HotplugOptions options_;
  HotplugJournal journal_;
  // One operation at a time, held while the steps run: a step must not call back into
  // this Hotplug, and whatever the steps lock comes after it (docs/lock-rules.md).
  mutable base::Mutex mutex_{"cpu.hotplug.mutex"};
  std::vector<HotplugStep> steps_ PCTX_GUARDED_BY(mutex_);  // in stage order
  CpuSet managed_ PCTX_GUARDED_BY(mutex_);
  CpuSet up_ PCTX_GUARDED_BY(mutex_);  // CPUs whose bringup steps have run
  std::vector<HotplugEvent> history_ PCTX_GUARDED_BY(mutex_);
  Topology topology_ PCTX_GUARDED_BY(mutex_);

  int uevent_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> cpu_uevents_{0};
  std::thread watcher_;
};

// Every failed attempt of this process at a hotplug write (online_write_failures) or a
// re-pin (pin_stats().einval_retries, under EINVAL), retried ones included, by positive
// errno: what a torture run reports as failures_by_errno.
std::map<int, uint64_t> hotplug_failures_by_errno();

}  // namespace pctx::cpu
