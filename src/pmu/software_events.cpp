#include "pctx/pmu/software_events.hpp"

#include <linux/perf_event.h>
#include <strings.h>

#include <array>

namespace pctx::pmu {

namespace {

// perf's order and words (tools/perf/util/parse-events.c names the same constants).
constexpr std::array kEvents = {
    SoftwareEvent{"cpu-clock", "", PERF_COUNT_SW_CPU_CLOCK, "msec", 1e-6,
                  "wall time on the CPU while the task runs, in ns (a high-resolution timer)"},
    SoftwareEvent{"task-clock", "", PERF_COUNT_SW_TASK_CLOCK, "msec", 1e-6,
                  "time the task ran on a CPU, in ns"},
    SoftwareEvent{"page-faults", "faults", PERF_COUNT_SW_PAGE_FAULTS, "", 1.0,
                  "page faults, minor and major"},
    SoftwareEvent{"context-switches", "cs", PERF_COUNT_SW_CONTEXT_SWITCHES, "", 1.0,
                  "context switches of the task"},
    SoftwareEvent{"cpu-migrations", "migrations", PERF_COUNT_SW_CPU_MIGRATIONS, "", 1.0,
                  "migrations of the task between CPUs"},
    SoftwareEvent{"minor-faults", "", PERF_COUNT_SW_PAGE_FAULTS_MIN, "", 1.0,
                  "minor page faults (no I/O)"},
    SoftwareEvent{"major-faults", "", PERF_COUNT_SW_PAGE_FAULTS_MAJ, "", 1.0,
                  "major page faults (with I/O)"},
    SoftwareEvent{"alignment-faults", "", PERF_COUNT_SW_ALIGNMENT_FAULTS, "", 1.0,
                  "unaligned accesses fixed up by the kernel"},
    SoftwareEvent{"emulation-faults", "", PERF_COUNT_SW_EMULATION_FAULTS, "", 1.0,
                  "instructions emulated by the kernel"},
    SoftwareEvent{"dummy", "", PERF_COUNT_SW_DUMMY, "", 1.0,
                  "counts nothing; a placeholder for sampling side-band records"},
    SoftwareEvent{"bpf-output", "", PERF_COUNT_SW_BPF_OUTPUT, "", 1.0,
                  "output of BPF programs; counts nothing when only counted"},
    SoftwareEvent{"cgroup-switches", "", PERF_COUNT_SW_CGROUP_SWITCHES, "", 1.0,
                  "context switches to a task in another cgroup"},
};

bool same(std::string_view a, std::string_view b) {
  return !b.empty() && a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::span<const SoftwareEvent> software_events() {
  return kEvents;
}

const SoftwareEvent* find_software_event(std::string_view name) {
  for (const auto& e : kEvents) {
    if (same(name, e.name) || same(name, e.alias)) return &e;
  }
  return nullptr;
}

}  // namespace pctx::pmu
