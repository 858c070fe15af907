// A group of kernel counters opened with perf_event_open, owned RAII-style. The leader is
// opened with PERF_FORMAT_GROUP | ID | TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING, so one
// read() returns every member's value with the group's shared times.
#pragma once

#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pctx/base/result.hpp"
#include "pctx/pmu/encoding.hpp"
#include "pctx/pmu/mmap_read.hpp"
#include "pctx/pmu/scale.hpp"
#include "pctx/pmu/target.hpp"

namespace pctx::pmu {

struct OpenOptions {
  bool enabled = true;     // start counting at once; else enable() starts it
  bool map_pages = false;  // mmap each member's page for fast_read (this thread only)
  bool exclude_idle = false;
};

// Members of a group are scheduled together, so they share enabled and running times.
struct GroupReading {
  uint64_t enabled = 0;
  uint64_t running = 0;
  std::vector<uint64_t> values;  // in the order the events were given

  // -> std::out_of_range past the members, as vector::at.
  Scaled scaled(size_t i) const { return scale(values.at(i), enabled, running); }
};

class CounterGroup {
 public:
  static base::Result<CounterGroup> open(const EncodedGroup& group, const Target& target,
                                         const OpenOptions& options = {});

  CounterGroup() = default;
  CounterGroup(CounterGroup&& other) noexcept;
  CounterGroup& operator=(CounterGroup&& other) noexcept;
  CounterGroup(const CounterGroup&) = delete;
  CounterGroup& operator=(const CounterGroup&) = delete;
  ~CounterGroup();

  base::Status enable();
  base::Status disable();
  base::Status reset();  // clears the counts; the kernel keeps the times

  // One read() for the whole group. The overload with an out-parameter does not allocate
  // once `out` has been sized by a first read.
  base::Status read(GroupReading* out) const;
  base::Result<GroupReading> read() const;

  // A member's count without a system call when its page allows rdpmc; otherwise a read().
  base::Result<FastReading> read_member(size_t i) const;

  size_t size() const { return fds_.size(); }
  int fd(size_t i) const { return fds_[i]; }
  uint64_t id(size_t i) const { return ids_[i]; }
  const EncodedEvent& event(size_t i) const { return events_[i]; }
  const Target& target() const { return target_; }
  const perf_event_mmap_page* page(size_t i) const;

 private:
  base::Status ioctl_all(unsigned long request, const char* what);
  void close_all();

  Target target_;
  std::vector<EncodedEvent> events_;
  std::vector<int> fds_;
  std::vector<uint64_t> ids_;
  std::vector<void*> pages_;
  mutable std::vector<uint64_t> buffer_;
};

}  // namespace pctx::pmu
