#include "pctx/cpu/hotplug_journal.hpp"
#include "pctx/base/errno_text.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <csignal>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "cpu/journal_text.hpp"
#include "pctx/cpu/sysfs.hpp"

namespace pctx::cpu {

namespace {

// Holds an exclusive flock for one read-modify-write of the journal. The lock is a file of
// its own: the journal is replaced by rename, so a lock on it would be on an old inode.
class JournalLock {
 public:
  explicit JournalLock(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) mkdir(path.substr(0, slash).c_str(), 0755);
    fd_ = open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) flock(fd_, LOCK_EX);
  }
  ~JournalLock() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

JournalEntries read_entries(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_journal(text.str());
}

base::Status write_entries(const std::string& path, const JournalEntries& entries) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << format_journal(entries);
    if (!out) return base::make_error(-EIO, fmt::format("cannot write the journal {}", tmp));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return base::make_error(
        -errno, fmt::format("cannot replace the journal {}: {}", path, base::errno_text(errno)));
  }
  return base::Ok{};
}

}  // namespace

HotplugJournal::HotplugJournal(std::string path) : path_(std::move(path)) {}

std::string HotplugJournal::default_path() {
  const char* env = std::getenv("PCTX_HOTPLUG_JOURNAL");
  return env != nullptr && *env != '\0' ? env : "/run/pctx/hotplug.journal";
}

base::Status HotplugJournal::add(int cpu) {
  JournalLock lock(path_);
  if (!lock.ok()) {
    return base::make_error(-errno, fmt::format("cannot open the hotplug journal {}: {}", path_,
                                                base::errno_text(errno)));
  }
  auto entries = read_entries(path_);
  entries[cpu] = getpid();
  return write_entries(path_, entries);
}

base::Status HotplugJournal::remove(int cpu) {
  JournalLock lock(path_);
  auto entries = read_entries(path_);
  if (entries.erase(cpu) == 0) return base::Ok{};
  return write_entries(path_, entries);
}

CpuSet HotplugJournal::cpus() const {
  CpuSet s;
  for (const auto& [cpu, pid] : read_entries(path_)) s.set(cpu);
  return s;
}

base::Result<CpuSet> HotplugJournal::restore(const CpuSet& only) {
  JournalLock lock(path_);
  auto entries = read_entries(path_);
  CpuSet restored;
  std::string failures;
  for (auto it = entries.begin(); it != entries.end();) {
    const int cpu = it->first;
    if (!only.empty() && !only.test(cpu)) {
      ++it;
      continue;
    }
    if (!cpu_is_online(cpu)) {
      auto st = write_cpu_online(cpu, true);
      if (!st) {
        failures += st.error().message + "; ";
        ++it;
        continue;
      }
      restored.set(cpu);
    }
    it = entries.erase(it);
  }
  auto st = write_entries(path_, entries);
  if (!failures.empty()) return base::make_error(-EIO, "restore incomplete: " + failures);
  if (!st) return st.error();
  return restored;
}

namespace exit_guard {

namespace {

constexpr size_t kWords = CpuSet::kMaxCpus / 64;
std::array<std::atomic<uint64_t>, kWords> g_marked{};
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_old[std::size(kSignals)];

// Async-signal-safe: fixed buffers, open/write/close and nanosleep only. EBUSY and EAGAIN
// (another hotplug holds the CPU) are retried as write_cpu_online does, for about 1 s.
void restore_marked() {
  for (size_t w = 0; w < kWords; ++w) {
    uint64_t bits = g_marked[w].load();
    while (bits != 0) {
      const int cpu = static_cast<int>(w * 64) + __builtin_ctzll(bits);
      bits &= bits - 1;
      char path[64];
      std::snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/online", cpu);
      for (int tries = 0; tries < kOnlineWriteTries; ++tries) {
        const int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) break;
        const bool done = write(fd, "1", 1) == 1;
        const int e = errno;
        close(fd);
        if (done) {
          g_marked[w].fetch_and(~(uint64_t{1} << (cpu % 64)));
          break;
        }
        if (e != EBUSY && e != EAGAIN) break;
        const timespec pause{0, 20'000'000};
        nanosleep(&pause, nullptr);
      }
    }
  }
}

const struct sigaction& old_action(int sig) {
  size_t i = 0;
  while (i + 1 < std::size(kSignals) && kSignals[i] != sig) ++i;
  return g_old[i];
}

// Installed only over a default or handled disposition (never over SIG_IGN): restores,
// then lets the application's own handler, or the default action, have the signal.
void on_signal(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  restore_marked();
  errno = saved_errno;
  const struct sigaction& old = old_action(sig);
  if (old.sa_flags & SA_SIGINFO) {
    old.sa_sigaction(sig, info, context);
    return;
  }
  if (old.sa_handler != SIG_DFL) {
    old.sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

base::Status install() {
  static std::once_flag once;
  static int error = 0;  // -errno of the first refusal
  static const char* what = "";
  std::call_once(once, [] {
    if (std::atexit(restore_marked) != 0) {
      error = -ENOMEM;
      what = "the exit handler";
      return;
    }
    struct sigaction sa {};
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    // A process that ignores a signal keeps ignoring it; its CPUs come back at exit.
    for (size_t i = 0; i < std::size(kSignals); ++i) {
      if (sigaction(kSignals[i], nullptr, &g_old[i]) != 0 ||
          (g_old[i].sa_handler != SIG_IGN && sigaction(kSignals[i], &sa, nullptr) != 0)) {
        error = -errno;
        what = sigabbrev_np(kSignals[i]);
        return;
      }
    }
  });
  if (error == 0) return base::Ok{};
  return base::make_error(error, fmt::format("cannot install the hotplug exit guard's handler "
                                             "for {}: {}; a CPU taken offline would stay offline "
                                             "if pctx were killed",
                                             what, base::errno_text(-error)));
}

void mark_offline(int cpu) {
  g_marked[cpu / 64].fetch_or(uint64_t{1} << (cpu % 64));
}
void mark_online(int cpu) {
  g_marked[cpu / 64].fetch_and(~(uint64_t{1} << (cpu % 64)));
}

CpuSet marked() {
  CpuSet s;
  for (size_t w = 0; w < kWords; ++w) {
    for (uint64_t bits = g_marked[w].load(); bits != 0; bits &= bits - 1) {
      s.set(static_cast<int>(w * 64) + __builtin_ctzll(bits));
    }
  }
  return s;
}

void restore_now() {
  restore_marked();
}

}  // namespace exit_guard

}  // namespace pctx::cpu
