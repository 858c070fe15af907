// pctx: a userspace perf-context runtime, and the tools around it.
//
// Exit codes, for every subcommand: 0 success, 1 runtime failure (the machine, the kernel,
// permissions, or writing the output failed), 2 usage error (the command line is wrong);
// `pctx torture` adds 3 HOTPLUG_FAIL. Every failure prints one line on stderr that says what
// to do.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <system_error>

#include "pctx/base/errno_text.hpp"
#include "tools/commands.hpp"

namespace {

// The subcommand the parse got to: the deepest one parsed, the root if none.
CLI::App* reached(CLI::App* app) {
  for (;;) {
    const auto subs = app->get_subcommands();
    if (subs.empty()) return app;
    app = subs.front();
  }
}

// "pctx", "pctx run", "pctx hotplug down".
std::string path_of(const CLI::App* app) {
  std::string path;
  for (; app != nullptr; app = app->get_parent()) {
    path = path.empty() ? app->get_name() : std::string(app->get_name()).append(" ").append(path);
  }
  return path;
}

std::string join_names(const std::vector<std::string>& names) {
  return fmt::format("{}", fmt::join(names, ", "));
}

std::vector<std::string> command_names(const CLI::App* app) {
  std::vector<std::string> names;
  for (const auto* sub : app->get_subcommands({})) names.push_back(sub->get_name());
  return names;
}

// "-w/--workload" for every option, the help flag included.
std::vector<std::string> option_names(const CLI::App* app) {
  std::vector<std::string> names;
  for (const auto* opt : app->get_options()) {
    if (opt->get_positional() && opt->get_lnames().empty() && opt->get_snames().empty()) {
      continue;
    }
    std::vector<std::string> spellings;
    for (const auto& s : opt->get_snames()) spellings.push_back("-" + s);
    for (const auto& l : opt->get_lnames()) spellings.push_back("--" + l);
    if (!spellings.empty()) names.push_back(fmt::format("{}", fmt::join(spellings, "/")));
  }
  return names;
}

// CLI11's own message for `e`, on one line.
std::string one_line(std::string text) {
  for (auto pos = text.find('\n'); pos != std::string::npos; pos = text.find('\n', pos)) {
    text.replace(pos, 1, "; ");
  }
  return text;
}

// One line for a command line CLI11 refused: which word was wrong and what is valid there.
// CLI11's own wording ("A subcommand is required" for `pctx frobnicate`) names neither.
std::string usage_message(CLI::App* app, const CLI::ParseError& e) {
  const CLI::App* at = reached(app);
  const std::string path = path_of(at);
  const std::string help = fmt::format("(`{} --help`)", path);
  const auto left = at->remaining();
  const bool has_commands = !at->get_subcommands({}).empty();
  if (!left.empty()) {
    const std::string& word = left.front();
    if (word.size() > 1 && word[0] == '-') {
      return fmt::format("{}: unknown option '{}'; valid options: {} {}", path, word,
                         join_names(option_names(at)), help);
    }
    if (has_commands) {
      return fmt::format("{}: unknown command '{}'; valid commands: {} {}", path, word,
                         join_names(command_names(at)), help);
    }
    return fmt::format("{}: unexpected argument '{}'; {} takes no more arguments {}", path, word,
                       path, help);
  }
  if (has_commands && at->get_subcommands().empty() &&
      dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
    return fmt::format("{}: a command is required; valid commands: {} {}", path,
                       join_names(command_names(at)), help);
  }
  std::string what = one_line(e.what());
  // CLI11 says "Could not convert: --json = maybe" for a value of the wrong type.
  const std::string prefix = "Could not convert: ";
  if (const auto eq = what.find(" = "); what.rfind(prefix, 0) == 0 && eq != std::string::npos) {
    what = fmt::format("{}: '{}' is not a valid value",
                       what.substr(prefix.size(), eq - prefix.size()), what.substr(eq + 3));
  }
  return fmt::format("{}: {} {}", path, what, help);
}

// stdout is checked once at the end: a full disk or a closed file must not exit 0 with the
// output lost. `err` is the errno of a write that already failed, 0 to find out here.
int output_failed(const std::string& path, int err) {
  if (std::fflush(stdout) != 0 && err == 0) err = errno;
  std::cout.flush();
  if (err == 0 && !std::ferror(stdout) && !std::cout.fail()) return 0;
  fmt::print(stderr, "{}: cannot write the output: {}; check the disk or the file it goes to\n",
             path, err != 0 ? pctx::base::errno_text(err) : "write error");
  return 1;
}

int pctx_main(int argc, char** argv) {
  CLI::App app{"pctx: per-task and per-CPU counter contexts in user space", "pctx"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pctx 0.1.0");
  pctx::tools::add_info_command(app);
  pctx::tools::add_list_command(app);
  pctx::tools::add_run_command(app);
  pctx::tools::add_bench_command(app);
  pctx::tools::add_hotplug_command(app);
  pctx::tools::add_torture_command(app);
  // Set after the subcommands, which would otherwise inherit it.
  app.footer(
      "Exit codes: 0 success, 1 runtime failure, 2 usage error (pctx torture adds 3 "
      "HOTPLUG_FAIL).\n\n"
      "Examples:\n"
      "  pctx info\n"
      "  pctx list clock\n"
      "  pctx run --duration 2 -e task-clock,page-faults\n"
      "  pctx hotplug status");

  int code = 0;
  int write_error = 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    code = app.exit(e);  // --help and --version: printed to stdout, checked below
  } catch (const CLI::RuntimeError& e) {
    code = e.get_exit_code();  // the command printed its own line
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "{}\n", usage_message(&app, e));
    code = 2;
  } catch (const std::system_error& e) {
    // fmt throws when a write to stdout fails midway (a full disk); anything else is a bug
    // that still gets one line and exit 1 rather than std::terminate.
    if (std::ferror(stdout)) {
      write_error = e.code().value() != 0 ? e.code().value() : EIO;
    } else {
      fmt::print(stderr, "{}: {}\n", path_of(reached(&app)), e.what());
      code = 1;
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", path_of(reached(&app)), e.what());
    code = 1;
  }
  if (output_failed(path_of(reached(&app)), write_error) != 0 && code == 0) code = 1;
  return code;
}

}  // namespace

// Whatever escapes the command's own handling (memory running out while the commands are
// set up, or while an error is printed) still ends in one line and exit 1, not terminate.
int main(int argc, char** argv) {
  try {
    return pctx_main(argc, argv);
  } catch (...) {
    std::fputs("pctx: unexpected failure (out of memory?)\n", stderr);
    return 1;
  }
}
