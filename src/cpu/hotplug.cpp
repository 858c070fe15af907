#include "pctx/cpu/hotplug.hpp"
#include "pctx/base/errno_text.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include <fmt/format.h>

#include "cpu/hotplug_steps.hpp"
#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/sysfs.hpp"
#include "pctx/cpu/uevent.hpp"

namespace pctx::cpu {

using Clock = std::chrono::steady_clock;

namespace {

std::string or_none(const CpuSet& s) {
  return s.empty() ? "none" : s.to_string();
}

// "CPU 3" or "CPUs 2-999".
std::string cpus_named(const CpuSet& s) {
  return fmt::format("{} {}", s.count() == 1 ? "CPU" : "CPUs", s.to_string());
}

}  // namespace

bool HotplugCheck::bad_input() const {
  return std::any_of(problems.begin(), problems.end(),
                     [](const HotplugProblem& p) { return p.bad_input(); });
}

const HotplugProblem* HotplugCheck::find(HotplugProblem::Kind kind) const {
  for (const auto& p : problems) {
    if (p.kind == kind) return &p;
  }
  return nullptr;
}

std::string HotplugCheck::message() const {
  std::string out;
  for (const auto& p : problems) out += (out.empty() ? "" : "\n") + p.message;
  return out;
}

base::Status HotplugCheck::status() const {
  if (ok()) return base::Ok{};
  return base::make_error(problems.front().code, message());
}

std::map<int, uint64_t> hotplug_failures_by_errno() {
  auto out = online_write_failures();
  if (const uint64_t n = pin_stats().einval_retries; n != 0) out[EINVAL] += n;
  return out;
}

Hotplug::Hotplug(HotplugOptions options)
    : options_(std::move(options)), journal_(options_.journal), up_(online_cpus()) {
  reload_topology();
  // cpu_down reports a guard that could not be installed, and takes nothing down then.
  if (options_.restore_on_exit) (void)exit_guard::install();
  if (options_.watch) {
    uevent_fd_ = open_uevent_socket();  // < 0: sysfs polling alone
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    watcher_ = std::thread([this] { watch_loop(); });
  }
}

Hotplug::~Hotplug() {
  stop_.store(true);
  notify();
  if (watcher_.joinable()) watcher_.join();
  if (uevent_fd_ >= 0) close(uevent_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (options_.restore_on_exit) {
    for (int cpu : exit_guard::marked().cpus()) {
      if (cpu_up(cpu)) continue;
      exit_guard::restore_now();  // at least the CPU comes back, steps or not
    }
  }
}

base::Status Hotplug::add_step(HotplugStep step) {
  base::MutexLock lock(mutex_);
  return internal::insert_step(steps_, std::move(step));
}

void Hotplug::remove_step(HotplugStage stage) {
  base::MutexLock lock(mutex_);
  std::erase_if(steps_, [&](const HotplugStep& s) { return s.stage == stage; });
}

std::vector<HotplugStage> Hotplug::stages() const {
  base::MutexLock lock(mutex_);
  std::vector<HotplugStage> out;
  for (const auto& s : steps_) out.push_back(s.stage);
  return out;
}

void Hotplug::set_managed(const CpuSet& managed) {
  base::MutexLock lock(mutex_);
  managed_ = managed;
}

CpuSet Hotplug::online() const {
  base::MutexLock lock(mutex_);
  return up_;
}

Topology Hotplug::topology() const {
  base::MutexLock lock(mutex_);
  return topology_;
}

void Hotplug::reload_topology() {
  auto t = Topology::load();
  if (t) topology_ = std::move(*t);
}

std::vector<HotplugEvent> Hotplug::history() const {
  base::MutexLock lock(mutex_);
  return history_;
}

// Every recorded change reloads the topology, so it is never older than the last change.
void Hotplug::record(HotplugEvent::Kind kind, int cpu, Clock::time_point start) {
  history_.push_back({kind, cpu, Clock::now() - start});
  reload_topology();
}

HotplugCheck Hotplug::check_all(const CpuSet& cpus, bool online) const {
  using Kind = HotplugProblem::Kind;
  HotplugCheck check;
  auto add = [&](Kind kind, const CpuSet& which, int code, std::string message) {
    if (!which.empty()) check.problems.push_back({kind, which, code, std::move(message)});
  };
  const CpuSet present = present_cpus();
  const CpuSet hotpluggable = hotpluggable_cpus();

  const CpuSet absent = cpus - present;
  add(Kind::kNotPresent, absent, -EINVAL,
      fmt::format("{} {} (present: {})", cpus_named(absent),
                  absent.count() == 1 ? "does not exist" : "do not exist", or_none(present)));
  const CpuSet fixed = (cpus & present) - hotpluggable;
  add(Kind::kNotHotpluggable, fixed, -EPERM,
      fmt::format("{} cannot be hotplugged: the kernel gives {} no online file (hotpluggable: "
                  "{})",
                  cpus_named(fixed), fixed.count() == 1 ? "it" : "them", or_none(hotpluggable)));
  CpuSet candidates = cpus & hotpluggable;
  if (candidates.test(0) && !options_.allow_cpu0) {
    add(Kind::kCpu0, CpuSet::of({0}), -EPERM,
        "CPU 0 is left alone unless asked (HotplugOptions::allow_cpu0)");
    candidates.reset(0);
  }
  if (!online) {
    const CpuSet now = online_cpus();
    const CpuSet going = candidates & now;
    if (!going.empty() && (now - going).empty()) {
      add(Kind::kLastOnline, going, -EBUSY,
          going.count() == 1
              ? fmt::format("CPU {} is the last online CPU", going.first())
              : fmt::format("CPUs {} are all the online CPUs: at least one must stay online",
                            going.to_string()));
    }
  }
  CpuSet unwritable;
  for (int cpu : candidates.cpus()) {
    if (access(fmt::format("{}/cpu{}/online", kSysCpuDir, cpu).c_str(), W_OK) != 0) {
      unwritable.set(cpu);
    }
  }
  add(Kind::kNeedsRoot, unwritable, -EACCES,
      unwritable.count() == 1
          ? fmt::format("CPU hotplug needs root: cannot write {}/cpu{}/online; run as root "
                        "(sudo)",
                        kSysCpuDir, unwritable.first())
          : fmt::format("CPU hotplug needs root: cannot write the online files of CPUs {} "
                        "({}/cpuN/online); run as root (sudo)",
                        unwritable.to_string(), kSysCpuDir));
  return check;
}

int Hotplug::run_bringup(int cpu, size_t* done) {
  *done = 0;
  if (!managed(cpu)) return 0;
  return internal::bring_up(steps_, cpu, done);
}

// Tears down steps [0, from) in reverse order.
void Hotplug::run_teardown(int cpu, size_t from) {
  if (managed(cpu)) internal::tear_down(steps_, cpu, from);
}

base::Status Hotplug::cpu_down(int cpu) {
  if (auto st = check_all(CpuSet::of({cpu}), false).status(); !st) return st;
  if (options_.restore_on_exit) {
    if (auto st = exit_guard::install(); !st) return st;
  }
  base::MutexLock lock(mutex_);
  const auto start = Clock::now();
  if (!cpu_is_online(cpu) && !up_.test(cpu)) return base::Ok{};
  // Journal and mark first, so a crash or a signal from here on still restores the CPU.
  if (auto st = journal_.add(cpu); !st) return st;
  exit_guard::mark_offline(cpu);
  if (up_.test(cpu)) run_teardown(cpu, steps_.size());
  up_.reset(cpu);
  if (auto st = write_cpu_online(cpu, false); !st) {
    size_t done = 0;
    if (run_bringup(cpu, &done) == 0) up_.set(cpu);
    exit_guard::mark_online(cpu);
    (void)journal_.remove(cpu);
    return st;
  }
  record(HotplugEvent::Kind::kDown, cpu, start);
  return base::Ok{};
}

base::Status Hotplug::cpu_up(int cpu) {
  if (auto st = check_all(CpuSet::of({cpu}), true).status(); !st) return st;
  base::MutexLock lock(mutex_);
  const auto start = Clock::now();
  if (!cpu_is_online(cpu)) {
    if (auto st = write_cpu_online(cpu, true); !st) return st;
  }
  exit_guard::mark_online(cpu);
  (void)journal_.remove(cpu);
  if (!up_.test(cpu)) {
    size_t done = 0;
    if (int err = run_bringup(cpu, &done)) {
      run_teardown(cpu, done);
      return base::make_error(err, fmt::format("CPU {} is online but step '{}' failed: {}", cpu,
                                               steps_[done].name, base::errno_text(-err)));
    }
    up_.set(cpu);
  }
  record(HotplugEvent::Kind::kUp, cpu, start);
  return base::Ok{};
}

base::Result<CpuSet> Hotplug::apply_all(const CpuSet& cpus, bool online) {
  if (auto st = check_all(cpus, online).status(); !st) return st.error();
  CpuSet changed;
  for (int cpu : cpus.cpus()) {
    const bool was_online = cpu_is_online(cpu);
    auto st = online ? cpu_up(cpu) : cpu_down(cpu);
    // A failed cpu_up may still have brought the CPU online (a step failed after the
    // write); it is undone with the rest.
    if (cpu_is_online(cpu) != was_online) changed.set(cpu);
    if (!st) {
      return base::make_error(st.error().code,
                              fmt::format("{}; {}", st.error().message, undo(changed, online)));
    }
  }
  return changed;
}

// Reverses what apply_all did to `changed`, last first, and says what it did.
std::string Hotplug::undo(const CpuSet& changed, bool online) {
  if (changed.empty()) return "nothing was changed";
  CpuSet undone;
  CpuSet stuck;
  std::string why;
  const std::vector<int> order = changed.cpus();
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    auto st = online ? cpu_down(*it) : cpu_up(*it);
    if (st) {
      undone.set(*it);
    } else {
      stuck.set(*it);
      why += fmt::format(" ({})", st.error().message);
    }
  }
  std::string out;
  if (!undone.empty()) {
    out = fmt::format("undone: {} {} {} again", cpus_named(undone),
                      undone.count() == 1 ? "is" : "are", online ? "offline" : "online");
  }
  if (!stuck.empty()) {
    out += fmt::format("{}could not undo {}{}; {}", out.empty() ? "" : "; ", cpus_named(stuck), why,
                       online ? "take them offline with `pctx hotplug down`"
                              : "bring them back with `pctx hotplug restore`");
  }
  return out;
}

void Hotplug::reconcile() {
  base::MutexLock lock(mutex_);
  const auto start = Clock::now();
  const CpuSet online = online_cpus();
  for (int cpu : (up_ - online).cpus()) {
    run_teardown(cpu, steps_.size());
    up_.reset(cpu);
    record(HotplugEvent::Kind::kExternalDown, cpu, start);
  }
  for (int cpu : (online - up_).cpus()) {
    size_t done = 0;
    if (run_bringup(cpu, &done) != 0) {
      run_teardown(cpu, done);
      continue;  // retried at the next reconcile
    }
    up_.set(cpu);
    record(HotplugEvent::Kind::kExternalUp, cpu, start);
  }
}

void Hotplug::notify() {
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    // Only EAGAIN (the counter is full, so a wake is pending already) can refuse it.
    (void)!write(wake_fd_, &one, sizeof one);
  }
}

void Hotplug::watch_loop() {
  std::array<char, 8192> buf{};
  while (!stop_.load()) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {uevent_fd_, POLLIN, 0}};
    const int nfds = uevent_fd_ >= 0 ? 2 : 1;
    if (poll(fds, nfds, static_cast<int>(options_.poll_interval.count())) < 0 && errno != EINTR) {
      // Not expected with these descriptors; the watcher then polls sysfs at the interval
      // rather than spinning on an error.
      std::this_thread::sleep_for(options_.poll_interval);
    }
    if (stop_.load()) break;
    uint64_t count;
    while (read(wake_fd_, &count, sizeof count) > 0) {
    }
    // Drain every queued uevent; the reconcile below acts on sysfs, the truth, so a lost
    // or reordered uevent costs at most one poll interval.
    if (uevent_fd_ >= 0) {
      ssize_t n;
      while ((n = recv(uevent_fd_, buf.data(), buf.size(), MSG_DONTWAIT)) > 0) {
        if (parse_cpu_uevent(std::string_view(buf.data(), static_cast<size_t>(n)))) {
          cpu_uevents_.fetch_add(1);
        }
      }
    }
    reconcile();
  }
}

}  // namespace pctx::cpu
