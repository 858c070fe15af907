// A separate process for hotplug tests that kill it: `down-and-die CPU` takes the CPU
// down and dies without restoring (a crash); `down-and-wait CPU` takes it down with
// restore_on_exit, says so and waits for a signal; `cycle CPU` takes it down and up until
// killed, announcing each cpu_down on stdout.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "pctx/cpu/hotplug.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: hotplug_helper down-and-die|down-and-wait|cycle CPU\n");
    return 2;
  }
  const int cpu = std::atoi(argv[2]);
  pctx::cpu::HotplugOptions options;
  // Takes the CPU down and says so on stdout; false after printing why it could not.
  auto take_down = [cpu](pctx::cpu::Hotplug& hotplug) {
    auto st = hotplug.cpu_down(cpu);
    if (!st) {
      std::fprintf(stderr, "%s\n", st.error().message.c_str());
      return false;
    }
    std::printf("down\n");
    std::fflush(stdout);
    return true;
  };
  if (std::strcmp(argv[1], "down-and-die") == 0) {
    options.restore_on_exit = false;
    pctx::cpu::Hotplug hotplug(options);
    if (!take_down(hotplug)) return 1;
    raise(SIGKILL);
  }
  if (std::strcmp(argv[1], "down-and-wait") == 0) {
    pctx::cpu::Hotplug hotplug(options);  // restores at exit and on SIGINT/SIGTERM/SIGHUP
    if (!take_down(hotplug)) return 1;
    while (true) pause();
  }
  if (std::strcmp(argv[1], "cycle") == 0) {
    pctx::cpu::Hotplug hotplug(options);  // restores at exit and on SIGINT/SIGTERM
    std::printf("ready\n");
    std::fflush(stdout);
    while (true) {
      std::printf("down\n");  // the test times its SIGTERM from this line
      std::fflush(stdout);
      if (auto st = hotplug.cpu_down(cpu); !st)
        std::fprintf(stderr, "%s\n", st.error().message.c_str());
      if (auto st = hotplug.cpu_up(cpu); !st)
        std::fprintf(stderr, "%s\n", st.error().message.c_str());
    }
  }
  return 2;
}
