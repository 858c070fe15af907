// Checks shared by the subcommands, so that bad input is refused while the command line is
// parsed (exit 2, before anything runs) with one line that names the option, the value and
// what to write instead. CLI11 prefixes a validator's message with the option's name.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace pctx::tools {

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
