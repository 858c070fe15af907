// Checks shared by the subcommands, so that bad input is refused while the command line is
// parsed (exit 2, before anything runs) with one line that names the option, the value and
// what to write instead. CLI11 prefixes a validator's message with the option's name. And
// the one way a subcommand fails once it runs: die, or or_die on a base::Result.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "pctx/base/result.hpp"
#include "pctx/cpu/cpu_set.hpp"

namespace pctx::tools {

inline constexpr int kRuntimeFailure = 1;  // the machine, the kernel or permissions refused
inline constexpr int kUsageError = 2;      // bad input: nothing was run

// Ends the command: "pctx run: <message>" on stderr (`command` is "pctx run"), and the exit
// code through CLI::RuntimeError, which main returns.
[[noreturn]] void die(std::string_view command, const std::string& message,
                      int code = kRuntimeFailure);

// The value of `result`, or the end of the command with its message.
template <class T>
T or_die(std::string_view command, base::Result<T> result, int code = kRuntimeFailure) {
  if (!result) die(command, result.error().message, code);
  return std::move(*result);
}

// A CPU list given on the command line ("1-3"): at least one CPU, or a usage error.
cpu::CpuSet parse_cpus_or_die(std::string_view command, const std::string& text);

// A finite number from `min` to `max`; `unit` and `example` go into the message, e.g.
// number_between(0.001, 604800, "seconds", "--duration 2").
CLI::Validator number_between(double min, double max, const std::string& unit,
                              const std::string& example);

// A whole number (no sign for min >= 0, no fraction, no junk) from `min` to `max`.
CLI::Validator integer_between(long long min, long long max, const std::string& unit,
                               const std::string& example);

// Not the empty string, which CLI11 accepts as a value; `hint` says what to write instead.
CLI::Validator not_empty(const std::string& hint);

// `text` split at every comma, empty items kept ("a,,b" and "a," have an empty one), so
// that a check can refuse them; CLI11's split drops a trailing one.
std::vector<std::string> split_commas(const std::string& text);

// Why `path` cannot be written, or "" when it can. It is opened for writing without
// truncation and removed again if it did not exist, so checking leaves nothing behind.
std::string cannot_write(const std::string& path);

}  // namespace pctx::tools
