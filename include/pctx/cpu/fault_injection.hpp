// TEST-ONLY. Faults injected into this process's CPU hotplug paths, so that tests can show
// the retry and undo paths work: kernels rarely refuse on cue. Nothing here is a user
// option, and no production code arms it; disarmed, each hook costs one relaxed load.
//
// Every injection counts down per attempt and is shared by every thread of the process.
// Tests that arm one call reset() when they end, so that their clean-up writes are real.
#pragma once

namespace pctx::cpu::fault_injection {

inline constexpr int kAnyCpu = -1;

// The next `tries` attempts of pin_current_thread (to `cpu`, or to any CPU) fail with
// EINVAL before reaching the kernel, as they do on kernels whose cpusets lag an online.
void inject_pin_einval(int tries, int cpu = kAnyCpu);

// The same, armed now but started only when a CPU (`cpu`, or any) next goes online through
// write_cpu_online: the re-pin that follows a bringup then meets the window.
void inject_pin_einval_after_online(int tries, int cpu = kAnyCpu);

// The next `writes` writes to cpuN/online (for `cpu`, or any CPU) fail with `error`
// (EBUSY or EAGAIN: what the kernel answers while another hotplug holds the CPU) before
// reaching the kernel.
void inject_online_write_error(int writes, int error, int cpu = kAnyCpu);

// Disarms everything.
void reset();

// Hooks for the library; tests have no need of them.
namespace hooks {
// EINVAL if this pin attempt is to fail, else 0.
int pin_attempt(int cpu);
// The errno this write to cpuN/online is to fail with, else 0.
int online_write(int cpu);
// A CPU came online through write_cpu_online: starts an armed pin window.
void came_online(int cpu);
}  // namespace hooks

}  // namespace pctx::cpu::fault_injection
