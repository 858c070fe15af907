// pctx: a userspace perf-context runtime, and the tools around it.
#include <CLI/CLI.hpp>

#include "tools/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"pctx: per-task and per-CPU counter contexts in user space"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pctx 0.1.0");
  pctx::tools::add_info_command(app);
  pctx::tools::add_list_command(app);
  pctx::tools::add_run_command(app);
  pctx::tools::add_bench_command(app);
  pctx::tools::add_hotplug_command(app);
  pctx::tools::add_torture_command(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
