// Real kernel counters on software events, which every Linux machine has.
#include "pctx/pmu/counter_group.hpp"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <stdexcept>

#include <atomic>
#include <ctime>
#include <thread>

#include "pctx/pmu/capabilities.hpp"

namespace pctx::pmu {
namespace {

EncodedGroup group_of(const char* spec) {
  auto g = compile_spec(spec);
  EXPECT_TRUE(g) << g.error().message;
  return (*g)[0];
}

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Burns this thread's CPU time for `ns` nanoseconds of it.
void spin_cpu(uint64_t ns) {
  const uint64_t end = thread_cpu_ns() + ns;
  volatile uint64_t sink = 0;
  while (thread_cpu_ns() < end) {
    for (int i = 0; i < 1000; ++i) sink = sink + 1;
  }
}

TEST(CounterGroup, TaskClockGrowsWithABusyLoop) {
  auto g = CounterGroup::open(group_of("task-clock"), Target::this_thread());
  ASSERT_TRUE(g) << g.error().message;
  auto before = g->read();
  ASSERT_TRUE(before) << before.error().message;
  const uint64_t cpu0 = thread_cpu_ns();
  spin_cpu(20'000'000);
  const uint64_t cpu1 = thread_cpu_ns();
  auto after = g->read();
  ASSERT_TRUE(after);
  const uint64_t counted = after->values[0] - before->values[0];
  const uint64_t spent = cpu1 - cpu0;
  // task-clock and the thread CPU clock are the same kernel accounting, read at slightly
  // different moments.
  EXPECT_GE(counted, spent * 9 / 10) << "counted " << counted << " ns of " << spent;
  EXPECT_LE(counted, spent * 11 / 10 + 1'000'000) << "counted " << counted << " of " << spent;
  EXPECT_GE(after->enabled, after->running);
  EXPECT_GT(after->running, before->running);
}

TEST(CounterGroup, PageFaultsCountEveryFreshPage) {
  constexpr size_t kPages = 256;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* mem =
      mmap(nullptr, kPages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  // A transparent huge page would serve many pages with one fault.
  madvise(mem, kPages * page, MADV_NOHUGEPAGE);
  auto g = CounterGroup::open(group_of("page-faults"), Target::this_thread());
  ASSERT_TRUE(g) << g.error().message;
  auto before = g->read();
  ASSERT_TRUE(before);
  auto* bytes = static_cast<volatile char*>(mem);
  for (size_t i = 0; i < kPages; ++i) bytes[i * page] = 1;
  auto after = g->read();
  ASSERT_TRUE(after);
  EXPECT_GE(after->values[0] - before->values[0], kPages);
  munmap(mem, kPages * page);
}

// With PERF_FORMAT_GROUP the kernel reports one pair of times for the group, so the
// members' own times are read here through separate fds without it.
TEST(CounterGroup, MembersShareEnabledAndRunningTimes) {
  auto g = group_of("{task-clock,page-faults,context-switches}");
  int leader = -1;
  std::vector<int> fds;
  for (size_t i = 0; i < g.events.size(); ++i) {
    perf_event_attr attr = g.events[i].attr;
    attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    attr.disabled = i == 0;
    const int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, leader, 0));
    ASSERT_GE(fd, 0) << g.events[i].text << ": " << strerror(errno);
    if (i == 0) leader = fd;
    fds.push_back(fd);
  }
  ASSERT_EQ(ioctl(leader, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP), 0);
  spin_cpu(5'000'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(ioctl(leader, PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP), 0);
  uint64_t first[3] = {};
  for (size_t i = 0; i < fds.size(); ++i) {
    uint64_t v[3] = {};
    ASSERT_EQ(::read(fds[i], v, sizeof v), static_cast<ssize_t>(sizeof v));
    if (i == 0) {
      std::copy(v, v + 3, first);
      EXPECT_GT(v[1], 0u);
    } else {
      EXPECT_EQ(v[1], first[1]) << g.events[i].text << " enabled differs from the leader's";
      EXPECT_EQ(v[2], first[2]) << g.events[i].text << " running differs from the leader's";
    }
  }
  for (int fd : fds) close(fd);
}

TEST(CounterGroup, OneReadReturnsTheWholeGroupInOrder) {
  auto g = CounterGroup::open(group_of("{task-clock,page-faults,context-switches}"),
                              Target::this_thread());
  ASSERT_TRUE(g) << g.error().message;
  ASSERT_EQ(g->size(), 3u);
  spin_cpu(2'000'000);
  // The kernel may charge a switch-out after our read, so sleep more than once.
  for (int i = 0; i < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  GroupReading r;
  ASSERT_TRUE(g->read(&r));
  ASSERT_EQ(r.values.size(), 3u);
  EXPECT_GE(r.values[0], 1'000'000u) << "task-clock in ns";
  EXPECT_GE(r.values[2], 1u) << "sleeping switches out";
  EXPECT_EQ(r.enabled, r.running) << "software events never multiplex";
}

TEST(CounterGroup, DisableStopsResetClears) {
  auto g = CounterGroup::open(group_of("task-clock"), Target::this_thread(),
                              OpenOptions{.enabled = false});
  ASSERT_TRUE(g) << g.error().message;
  spin_cpu(1'000'000);
  EXPECT_EQ(g->read()->values[0], 0u) << "opened disabled";
  ASSERT_TRUE(g->enable());
  spin_cpu(2'000'000);
  ASSERT_TRUE(g->disable());
  const uint64_t stopped = g->read()->values[0];
  EXPECT_GT(stopped, 1'000'000u);
  spin_cpu(2'000'000);
  EXPECT_EQ(g->read()->values[0], stopped) << "a disabled counter does not move";
  ASSERT_TRUE(g->reset());
  EXPECT_EQ(g->read()->values[0], 0u);
}

TEST(CounterGroup, ReadMemberFallsBackToReadForSoftwareEvents) {
  auto g = CounterGroup::open(group_of("task-clock"), Target::this_thread(),
                              OpenOptions{.map_pages = true});
  ASSERT_TRUE(g) << g.error().message;
  ASSERT_NE(g->page(0), nullptr);
  spin_cpu(1'000'000);
  auto a = g->read_member(0);
  ASSERT_TRUE(a);
  spin_cpu(1'000'000);
  auto b = g->read_member(0);
  ASSERT_TRUE(b);
  EXPECT_GT(b->value, a->value);
  EXPECT_GE(b->value - a->value, 900'000u);
}

TEST(CounterGroup, AnotherThread) {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    volatile uint64_t sink = 0;
    while (!stop) sink = sink + 1;
  });
  while (tid == 0) std::this_thread::yield();
  auto g = CounterGroup::open(group_of("task-clock"), Target::thread(tid));
  ASSERT_TRUE(g) << g.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto r = g->read();
  stop = true;
  worker.join();
  ASSERT_TRUE(r);
  EXPECT_GT(r->values[0], 1'000'000u) << "the spinning thread ran for most of 20 ms";
}

TEST(CounterGroup, ADeadTaskIsAClearError) {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  auto g = CounterGroup::open(group_of("task-clock"), Target::thread(child));
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, -ESRCH);
  EXPECT_NE(g.error().message.find("no such thread"), std::string::npos) << g.error().message;
}

// The kernel reads pid 0 as "the caller": thread(0) would silently count the wrong thread.
TEST(CounterGroup, ThreadZeroIsRefusedNotTakenAsTheCaller) {
  for (pid_t tid : {0, -5}) {
    auto g = CounterGroup::open(group_of("task-clock"), Target::thread(tid));
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().code, -EINVAL);
    EXPECT_NE(g.error().message.find("this_thread()"), std::string::npos) << g.error().message;
  }
}

TEST(CounterGroup, ScaledPastTheMembersThrowsInsteadOfReadingGarbage) {
  auto g = CounterGroup::open(group_of("task-clock"), Target::this_thread());
  ASSERT_TRUE(g) << g.error().message;
  auto r = g->read();
  ASSERT_TRUE(r);
  EXPECT_NO_THROW((void)r->scaled(0));
  EXPECT_THROW((void)r->scaled(1), std::out_of_range);
}

TEST(CounterGroup, WholeCpuNeedsPrivilegeOrSaysSo) {
  auto g = CounterGroup::open(group_of("cpu-clock"), Target::on_cpu(0));
  if (is_privileged() || read_paranoid() <= 0) {
    ASSERT_TRUE(g) << g.error().message;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GT(g->read()->values[0], 0u);
  } else {
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().message.find("perf_event_paranoid"), std::string::npos);
  }
}

TEST(CounterGroup, NoSuchCpu) {
  auto g = CounterGroup::open(group_of("cpu-clock"), Target::on_cpu(4095));
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("CPU 4095"), std::string::npos) << g.error().message;
}

TEST(CounterGroup, MappedPagesOnlyForThisThread) {
  auto g = CounterGroup::open(group_of("task-clock"), Target::thread(getpid()),
                              OpenOptions{.map_pages = true});
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, -EINVAL);
}

TEST(CounterGroup, HardwareEventWithoutAPmuSaysSo) {
  const auto caps = probe_capabilities();
  if (caps.hardware_pmu)
    GTEST_SKIP() << "this machine has a hardware PMU, so the no-PMU error cannot occur";
  auto g = CounterGroup::open(group_of("cycles"), Target::this_thread());
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, -ENOENT);
  EXPECT_NE(g.error().message.find("no hardware PMU on this machine"), std::string::npos)
      << g.error().message;
  EXPECT_NE(g.error().message.find("task-clock"), std::string::npos) << g.error().message;
}

}  // namespace
}  // namespace pctx::pmu
