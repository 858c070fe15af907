// The `pctx` subcommands. Each registers itself on the CLI11 app; its callback throws
// CLI::RuntimeError with the exit code on failure.
#pragma once

#include <CLI/CLI.hpp>

namespace pctx::tools {

// How a command prints: a table for people, JSON or CSV for machines.
struct OutputOptions {
  bool json = false;
  std::string csv_separator;  // non-empty with -x

  void add_to(CLI::App* cmd);
};

void add_info_command(CLI::App& app);
void add_list_command(CLI::App& app);
void add_hotplug_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_torture_command(CLI::App& app);

}  // namespace pctx::tools
