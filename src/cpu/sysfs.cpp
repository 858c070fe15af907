#include "pctx/cpu/sysfs.hpp"
#include "pctx/base/errno_text.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "pctx/base/lock_validator.hpp"
#include "pctx/cpu/fault_injection.hpp"

namespace pctx::cpu {

namespace {

using Clock = std::chrono::steady_clock;

// Linux errnos end at EHWPOISON (133); the last slot, 134, counts anything above, which
// only a kernel newer than this code could return.
constexpr int kErrnoSlots = 135;
std::array<std::atomic<uint64_t>, kErrnoSlots> g_write_failures{};

void count_failure(int err) {
  const int slot = err > 0 && err < kErrnoSlots - 1 ? err : kErrnoSlots - 1;
  g_write_failures[slot].fetch_add(1, std::memory_order_relaxed);
}

std::string online_path(int cpu) {
  return fmt::format("{}/cpu{}/online", kSysCpuDir, cpu);
}

// One write of "0" or "1"; 0 or the errno.
int write_once(int cpu, const std::string& path, bool online) {
  if (int injected = fault_injection::hooks::online_write(cpu)) return injected;
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  const char c = online ? '1' : '0';
  const ssize_t n = write(fd, &c, 1);
  const int e = n == 1 ? 0 : (n < 0 ? errno : EIO);
  close(fd);
  return e;
}

std::string refusal(int cpu, bool online, int err, int tries, Clock::duration spent) {
  const char* state = online ? "online" : "offline";
  const std::string path = online_path(cpu);
  switch (err) {
    case ENOENT:
      return fmt::format(
          "CPU {} is not hotpluggable: the kernel gives it no {} (hotpluggable "
          "CPUs: {})",
          cpu, path, hotpluggable_cpus().to_string());
    case EACCES:
    case EPERM:
      return fmt::format("CPU hotplug needs root: cannot write {}; run as root (sudo)", path);
    case EBUSY:
    case EAGAIN:
      return fmt::format(
          "the kernel refused to take CPU {} {}: {} on all {} tries over {} ms; another "
          "hotplug operation or a driver holds the CPU: wait for it and retry, and see dmesg",
          cpu, state, errno_text(err), tries,
          std::chrono::duration_cast<std::chrono::milliseconds>(spent).count());
    default:
      return fmt::format("the kernel refused to take CPU {} {}: {}; see dmesg for the reason", cpu,
                         state, errno_text(err));
  }
}

}  // namespace

CpuSet read_cpu_list_file(const std::string& name) {
  std::ifstream in(fmt::format("{}/{}", kSysCpuDir, name));
  std::string line;
  std::getline(in, line);
  auto set = CpuSet::parse(line);
  return set ? *set : CpuSet{};
}

CpuSet online_cpus() {
  return read_cpu_list_file("online");
}
CpuSet offline_cpus() {
  return read_cpu_list_file("offline");
}
CpuSet present_cpus() {
  return read_cpu_list_file("present");
}
CpuSet possible_cpus() {
  return read_cpu_list_file("possible");
}

CpuSet hotpluggable_cpus() {
  CpuSet out;
  for (int c : present_cpus().cpus()) {
    if (access(online_path(c).c_str(), F_OK) == 0) out.set(c);
  }
  return out;
}

bool cpu_is_online(int cpu) {
  std::ifstream in(online_path(cpu));
  int v = 1;  // CPUs without the file (cpu0) are always online
  in >> v;
  return v == 1;
}

base::Status write_cpu_online(int cpu, bool online) {
  const std::string path = online_path(cpu);
  const auto start = Clock::now();
  auto backoff = std::chrono::milliseconds(1);
  int tries = 0;
  int err = 0;
  while (true) {
    ++tries;
    err = write_once(cpu, path, online);
    if (err == 0) break;
    count_failure(err);
    const bool busy = err == EBUSY || err == EAGAIN;
    if (!busy || tries >= kOnlineWriteTries || Clock::now() - start >= kOnlineWriteGiveUp) {
      return base::make_error(-err, refusal(cpu, online, err, tries, Clock::now() - start));
    }
    base::lock_validator::might_block(base::lock_validator::Blocking::kSleep);
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(20));
  }
  if (cpu_is_online(cpu) != online) {
    return base::make_error(-EIO, fmt::format("CPU {} did not go {}: {} still reads {}", cpu,
                                              online ? "online" : "offline", path, online ? 0 : 1));
  }
  if (online) fault_injection::hooks::came_online(cpu);
  return base::Ok{};
}

std::map<int, uint64_t> online_write_failures() {
  std::map<int, uint64_t> out;
  for (int e = 0; e < kErrnoSlots; ++e) {
    if (const uint64_t n = g_write_failures[e].load(); n != 0) out[e] = n;
  }
  return out;
}

std::string errno_name(int err) {
  if (err < 0) err = -err;
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : fmt::format("errno {}", err);
}

std::string errno_text(int err) {
  if (err < 0) err = -err;
  return fmt::format("{} ({})", errno_name(err), base::errno_text(err));
}

}  // namespace pctx::cpu
