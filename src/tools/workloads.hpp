// The built-in workloads of `pctx run`, written to differ in what they count: `spin` is pure
// compute, `chase` walks a random cycle through a buffer larger than the caches (and
// faults its pages in), `syscall` lives in the kernel and sleeps briefly (context
// switches), `mixed` takes turns at the three. Each runs in a pctx task until `stop` and
// reaches a preemption point every few microseconds.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pctx::tools {

enum class Workload { kSpin, kChase, kSyscall, kMixed };

std::optional<Workload> parse_workload(std::string_view name);
const char* to_string(Workload w);
std::vector<std::string> workload_names();

// Runs `w` until `stop`; returns the work done (iterations, steps or calls).
uint64_t run_workload(Workload w, const std::atomic<bool>& stop, uint64_t seed);

}  // namespace pctx::tools
