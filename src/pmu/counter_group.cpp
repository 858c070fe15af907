#include "pctx/pmu/counter_group.hpp"
#include "pctx/base/errno_text.hpp"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "pctx/pmu/open_error.hpp"

namespace pctx::pmu {

namespace {

constexpr uint64_t kReadFormat = PERF_FORMAT_GROUP | PERF_FORMAT_ID |
                                 PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;

int perf_event_open(perf_event_attr* attr, pid_t pid, int cpu, int group_fd) {
  return static_cast<int>(
      syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, PERF_FLAG_FD_CLOEXEC));
}

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

base::Result<CounterGroup> CounterGroup::open(const EncodedGroup& group, const Target& target,
                                              const OpenOptions& options) {
  if (group.events.empty()) return base::make_error(-EINVAL, "cannot open an empty group");
  if (target.kind == Target::Kind::kThread && target.tid <= 0) {
    return base::make_error(-EINVAL, fmt::format("Target::thread({}) names no thread; use "
                                                 "Target::this_thread() for the calling thread",
                                                 target.tid));
  }
  if (options.map_pages && target.kind != Target::Kind::kThisThread) {
    return base::make_error(-EINVAL,
                            "fast reads (mapped pages) work only for counters on this thread");
  }
  CounterGroup g;
  g.target_ = target;
  g.events_ = group.events;
  for (size_t i = 0; i < group.events.size(); ++i) {
    perf_event_attr attr = group.events[i].attr;
    attr.size = sizeof attr;
    attr.read_format = kReadFormat;
    attr.disabled = (i == 0 && !options.enabled) ? 1 : 0;
    attr.exclude_idle = options.exclude_idle;
    const int fd =
        perf_event_open(&attr, target.pid_arg(), target.cpu_arg(), i == 0 ? -1 : g.fds_[0]);
    if (fd < 0) return open_error(errno, group.events[i], target);
    g.fds_.push_back(fd);
    uint64_t id = 0;
    if (ioctl(fd, PERF_EVENT_IOC_ID, &id) != 0) {
      return base::make_error(-errno,
                              fmt::format("PERF_EVENT_IOC_ID failed: {}", base::errno_text(errno)));
    }
    g.ids_.push_back(id);
    if (options.map_pages) {
      void* p = mmap(nullptr, page_size(), PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        return base::make_error(-errno, fmt::format("cannot map the page of '{}': {}",
                                                    group.events[i].text, base::errno_text(errno)));
      }
      g.pages_.push_back(p);
    }
  }
  g.buffer_.resize(3 + 2 * g.fds_.size());
  return g;
}

CounterGroup::CounterGroup(CounterGroup&& other) noexcept {
  *this = std::move(other);
}

CounterGroup& CounterGroup::operator=(CounterGroup&& other) noexcept {
  if (this != &other) {
    close_all();
    target_ = other.target_;
    events_ = std::move(other.events_);
    fds_ = std::exchange(other.fds_, {});
    ids_ = std::exchange(other.ids_, {});
    pages_ = std::exchange(other.pages_, {});
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

CounterGroup::~CounterGroup() {
  close_all();
}

void CounterGroup::close_all() {
  for (void* p : pages_) munmap(p, page_size());
  // Siblings before the leader, so the group stays whole while it is torn down.
  for (auto it = fds_.rbegin(); it != fds_.rend(); ++it) ::close(*it);
  pages_.clear();
  fds_.clear();
  ids_.clear();
}

base::Status CounterGroup::ioctl_all(unsigned long request, const char* what) {
  if (fds_.empty()) return base::make_error(-EBADF, "the counter group is not open");
  if (ioctl(fds_[0], request, PERF_IOC_FLAG_GROUP) != 0) {
    return base::make_error(-errno, fmt::format("{} failed: {}", what, base::errno_text(errno)));
  }
  return base::Ok{};
}

base::Status CounterGroup::enable() {
  return ioctl_all(PERF_EVENT_IOC_ENABLE, "enable");
}
base::Status CounterGroup::disable() {
  return ioctl_all(PERF_EVENT_IOC_DISABLE, "disable");
}
base::Status CounterGroup::reset() {
  return ioctl_all(PERF_EVENT_IOC_RESET, "reset");
}

base::Status CounterGroup::read(GroupReading* out) const {
  if (fds_.empty()) return base::make_error(-EBADF, "the counter group is not open");
  const size_t bytes = buffer_.size() * sizeof(uint64_t);
  const ssize_t n = ::read(fds_[0], buffer_.data(), bytes);
  if (n < 0)
    return base::make_error(-errno, fmt::format("read failed: {}", base::errno_text(errno)));
  // Layout: nr, time_enabled, time_running, then {value, id} per member.
  const uint64_t nr = buffer_[0];
  if (static_cast<size_t>(n) < (3 + 2 * nr) * sizeof(uint64_t) || nr != fds_.size()) {
    return base::make_error(-EIO, fmt::format("short group read: {} bytes for {} members", n, nr));
  }
  out->enabled = buffer_[1];
  out->running = buffer_[2];
  out->values.resize(nr);
  for (size_t k = 0; k < nr; ++k) {
    const uint64_t value = buffer_[3 + 2 * k];
    const uint64_t id = buffer_[4 + 2 * k];
    // The kernel reports members in the order they joined, which is ours; search by id
    // only if that ever differs.
    size_t slot = k;
    if (ids_[slot] != id) {
      for (slot = 0; slot < nr && ids_[slot] != id; ++slot) {
      }
      if (slot == nr) return base::make_error(-EIO, "group read returned an unknown event id");
    }
    out->values[slot] = value;
  }
  return base::Ok{};
}

base::Result<GroupReading> CounterGroup::read() const {
  GroupReading r;
  auto st = read(&r);
  if (!st) return st.error();
  return r;
}

const perf_event_mmap_page* CounterGroup::page(size_t i) const {
  return i < pages_.size() ? static_cast<const perf_event_mmap_page*>(pages_[i]) : nullptr;
}

base::Result<FastReading> CounterGroup::read_member(size_t i) const {
  if (i >= fds_.size()) return base::make_error(-EINVAL, "no such group member");
  if (const auto* pc = page(i)) {
    FastReading r = fast_read(pc);
    if (r.valid) return r;
  }
  GroupReading g;
  auto st = read(&g);
  if (!st) return st.error();
  return FastReading{true, g.values[i], g.enabled, g.running};
}

}  // namespace pctx::pmu
