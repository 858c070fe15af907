// The only door to libpfm4. libpfm4 ships an older perfmon/perf_event.h that clashes with
// <linux/perf_event.h>, so its headers are included by pfm.cpp alone and this interface
// speaks in plain types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pctx::pmu::internal {

struct PfmEncoding {
  uint32_t type = 0;
  uint64_t config = 0, config1 = 0, config2 = 0;
  bool exclude_user = false, exclude_kernel = false, exclude_hv = false;
  uint32_t precise_ip = 0;
  std::string fstr;  // fully qualified name
};

// Privilege levels for the default when a name gives none (libpfm4's dfl_plm).
enum PrivilegeMask : int { kPlmUser = 1, kPlmKernel = 2, kPlmHv = 4 };

enum class PfmStatus { kOk, kNotFound, kBadAttribute, kOther };

struct PfmResult {
  PfmStatus status = PfmStatus::kOk;
  std::string message;  // libpfm4's own words for a failure
};

PfmResult pfm_encode(const std::string& name, int privilege_mask, PfmEncoding* out);

struct PfmPmuInfo {
  std::string name, description;
  int counters = 0, fixed = 0;
  bool present = false;
  bool core = false;     // a processor core PMU
  bool uncore = false;   // a socket-level PMU
  bool generic = false;  // libpfm4's OS-generic tables (perf, perf_raw)
};
std::vector<PfmPmuInfo> pfm_pmus();

struct PfmEventInfo {
  std::string name, pmu, description, equiv;
};
std::vector<PfmEventInfo> pfm_events(const std::string& pmu);

}  // namespace pctx::pmu::internal
