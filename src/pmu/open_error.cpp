#include "pctx/pmu/open_error.hpp"
#include "pctx/base/errno_text.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/catalog.hpp"

namespace pctx::pmu {

ErrorContext ErrorContext::current() {
  ErrorContext c;
  c.paranoid = read_paranoid();
  c.privileged = is_privileged();
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) c.fd_limit = static_cast<long>(rl.rlim_cur);
  std::ifstream online("/sys/devices/system/cpu/online");
  std::getline(online, c.online_cpus);
  c.software_events = software_event_names();
  return c;
}

namespace {

std::string permission_advice(const EncodedEvent& ev, const Target& t, const ErrorContext& c) {
  std::string what;
  if (t.kind == Target::Kind::kCpu) {
    what = "counting a whole CPU needs perf_event_paranoid <= 0";
  } else if (!ev.attr.exclude_kernel) {
    what = fmt::format(
        "counting kernel mode needs perf_event_paranoid <= 1; add ':u' to count "
        "user mode only ('{}:u')",
        ev.text);
  } else {
    what = "perf_event_paranoid >= 3 forbids all counting to unprivileged users";
  }
  return fmt::format(
      "permission denied opening '{}' on {} (perf_event_paranoid = {}): {}; or run "
      "as root, give the program CAP_PERFMON, or lower the level with `sysctl -w "
      "kernel.perf_event_paranoid=-1`",
      ev.text, t.describe(), c.paranoid, what);
}

}  // namespace

base::Error open_error(int e, const EncodedEvent& ev, const Target& t, const ErrorContext& c) {
  std::string msg;
  switch (e) {
    case EACCES:
    case EPERM:
      msg = permission_advice(ev, t, c);
      break;
    case ENOENT:
      msg = ev.hardware()
                ? fmt::format(
                      "cannot count '{}': no hardware PMU on this machine (virtualised "
                      "without a vPMU?); software events available: {}",
                      ev.text, fmt::join(c.software_events, ", "))
                : fmt::format("cannot count '{}': the kernel does not know this event", ev.text);
      break;
    case ENODEV:
      msg = t.kind == Target::Kind::kCpu
                ? fmt::format(
                      "CPU {} is offline; bring it online (`pctx hotplug up {}`) or "
                      "choose an online CPU ({})",
                      t.cpu, t.cpu, c.online_cpus)
                : fmt::format("the PMU of '{}' cannot count {}: it counts whole CPUs only", ev.text,
                              t.describe());
      break;
    case ESRCH:
      msg = fmt::format("cannot count {}: no such thread (has it exited?)", t.describe());
      break;
    case EMFILE:
    case ENFILE:
      msg = fmt::format(
          "too many open files opening '{}' (limit {}): raise it with `ulimit -n`, "
          "or count fewer events",
          ev.text, c.fd_limit);
      break;
    case EBUSY:
      msg = fmt::format(
          "'{}': the counter is held exclusively by another user (an exclusive "
          "event, or the NMI watchdog: `sysctl -w kernel.nmi_watchdog=0`)",
          ev.text);
      break;
    case EOPNOTSUPP:
      msg = fmt::format("'{}' is not supported in this mode on {} (try without modifiers)", ev.text,
                        t.describe());
      break;
    case EINVAL:
      msg = t.kind == Target::Kind::kCpu
                ? fmt::format(
                      "the kernel rejected '{}' on CPU {}: no such CPU, or an attribute "
                      "it does not support (online CPUs: {})",
                      ev.text, t.cpu, c.online_cpus)
                : fmt::format(
                      "the kernel rejected '{}' on {}: an attribute it does not support, "
                      "or a group that cannot fit the PMU's counters",
                      ev.text, t.describe());
      break;
    default:
      msg = fmt::format("cannot open '{}' on {}: {}", ev.text, t.describe(), base::errno_text(e));
  }
  return base::make_error(-e, std::move(msg));
}

base::Error open_error(int errno_value, const EncodedEvent& event, const Target& target) {
  return open_error(errno_value, event, target, ErrorContext::current());
}

}  // namespace pctx::pmu
