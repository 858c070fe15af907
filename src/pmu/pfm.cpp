// This translation unit alone includes libpfm4 (see pfm.hpp for why).
#include "pmu/pfm.hpp"

#include <perfmon/pfmlib_perf_event.h>

#include <cstring>

#include "pctx/base/mutex.hpp"

namespace pctx::pmu::internal {

namespace {

// libpfm4 is initialised once per process; pfm_initialize is not safe to race.
bool initialise() {
  static const bool ok = pfm_initialize() == PFM_SUCCESS;
  return ok;
}

// libpfm4's encoder keeps no per-call state we rely on, but its documentation makes no
// thread-safety promise, so calls are serialised.
base::Mutex& pfm_mutex() {
  static base::Mutex m("pmu.pfm.mutex");
  return m;
}

PfmStatus classify(int err) {
  switch (err) {
    case PFM_SUCCESS:
      return PfmStatus::kOk;
    case PFM_ERR_NOTFOUND:
      return PfmStatus::kNotFound;
    case PFM_ERR_ATTR:
    case PFM_ERR_ATTR_VAL:
    case PFM_ERR_ATTR_SET:
    case PFM_ERR_UMASK:
    case PFM_ERR_FEATCOMB:
      return PfmStatus::kBadAttribute;
    default:
      return PfmStatus::kOther;
  }
}

}  // namespace

PfmResult pfm_encode(const std::string& name, int privilege_mask, PfmEncoding* out) {
  if (!initialise()) return {PfmStatus::kOther, "libpfm4 failed to initialise"};
  base::MutexLock lock(pfm_mutex());
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof attr);
  char* fstr = nullptr;
  pfm_perf_encode_arg_t arg;
  std::memset(&arg, 0, sizeof arg);
  arg.attr = &attr;
  arg.fstr = &fstr;
  arg.size = sizeof arg;
  int plm = 0;
  if (privilege_mask & kPlmUser) plm |= PFM_PLM3;
  if (privilege_mask & kPlmKernel) plm |= PFM_PLM0;
  if (privilege_mask & kPlmHv) plm |= PFM_PLMH;
  const int err = pfm_get_os_event_encoding(name.c_str(), plm, PFM_OS_PERF_EVENT_EXT, &arg);
  if (err != PFM_SUCCESS) {
    free(fstr);
    return {classify(err), pfm_strerror(err)};
  }
  out->type = attr.type;
  out->config = attr.config;
  out->config1 = attr.config1;
  out->config2 = attr.config2;
  out->exclude_user = attr.exclude_user;
  out->exclude_kernel = attr.exclude_kernel;
  out->exclude_hv = attr.exclude_hv;
  out->precise_ip = attr.precise_ip;
  out->fstr = fstr != nullptr ? fstr : name;
  free(fstr);
  return {};
}

namespace {

// Calls fn(info) for every PMU libpfm4 knows. The caller holds pfm_mutex.
template <class F>
void for_each_pmu(F&& fn) {
  for (int i = PFM_PMU_NONE; i < PFM_PMU_MAX; ++i) {
    pfm_pmu_info_t info;
    std::memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if (pfm_get_pmu_info(static_cast<pfm_pmu_t>(i), &info) == PFM_SUCCESS && info.name) fn(info);
  }
}

}  // namespace

std::vector<PfmPmuInfo> pfm_pmus() {
  std::vector<PfmPmuInfo> out;
  if (!initialise()) return out;
  base::MutexLock lock(pfm_mutex());
  for_each_pmu([&](const pfm_pmu_info_t& info) {
    PfmPmuInfo p;
    p.name = info.name;
    p.description = info.desc != nullptr ? info.desc : "";
    p.counters = info.num_cntrs;
    p.fixed = info.num_fixed_cntrs;
    p.present = info.is_present;
    p.core = info.type == PFM_PMU_TYPE_CORE;
    p.uncore = info.type == PFM_PMU_TYPE_UNCORE;
    p.generic = info.type == PFM_PMU_TYPE_OS_GENERIC;
    out.push_back(std::move(p));
  });
  return out;
}

std::vector<PfmEventInfo> pfm_events(const std::string& pmu_name) {
  std::vector<PfmEventInfo> out;
  if (!initialise()) return out;
  base::MutexLock lock(pfm_mutex());
  for_each_pmu([&](const pfm_pmu_info_t& info) {
    if (pmu_name != info.name) return;
    for (int e = info.first_event; e != -1; e = pfm_get_event_next(e)) {
      pfm_event_info_t ev;
      std::memset(&ev, 0, sizeof ev);
      ev.size = sizeof ev;
      if (pfm_get_event_info(e, PFM_OS_PERF_EVENT_EXT, &ev) != PFM_SUCCESS) continue;
      out.push_back({ev.name != nullptr ? ev.name : "", info.name,
                     ev.desc != nullptr ? ev.desc : "", ev.equiv != nullptr ? ev.equiv : ""});
    }
  });
  return out;
}

}  // namespace pctx::pmu::internal
