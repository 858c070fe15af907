#include "tools/cli_checks.hpp"
#include "pctx/base/errno_text.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace pctx::tools {

void die(std::string_view command, const std::string& message, int code) {
  fmt::print(stderr, "{}: {}\n", command, message);
  throw CLI::RuntimeError(code);
}

cpu::CpuSet parse_cpus_or_die(std::string_view command, const std::string& text) {
  cpu::CpuSet cpus = or_die(command, cpu::CpuSet::parse(text), kUsageError);
  if (cpus.empty()) die(command, "give at least one CPU, e.g. 1 or 1-3", kUsageError);
  return cpus;
}

CLI::Validator number_between(double min, double max, const std::string& unit,
                              const std::string& example) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(text.c_str(), &end);
        // strtod takes "nan", "inf" and numbers too small to represent (1e-300 is 0 for a
        // duration); all of them ran 0 s and exited 0, so they are refused here by value.
        const bool number = !text.empty() && end != nullptr && *end == '\0';
        if (number && std::isfinite(v) && v >= min && v <= max) return {};
        return fmt::format("'{}' is not {} from {} to {}; write e.g. {}", text, unit, min, max,
                           example);
      },
      "");
}

CLI::Validator integer_between(long long min, long long max, const std::string& unit,
                               const std::string& example) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        const bool number = !text.empty() && end != nullptr && *end == '\0' && errno == 0;
        if (number && v >= min && v <= max) return {};
        return fmt::format("'{}' is not {} from {} to {}; write e.g. {}", text, unit, min, max,
                           example);
      },
      "");
}

CLI::Validator not_empty(const std::string& hint) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        return text.empty() ? fmt::format("the value is empty; {}", hint) : std::string{};
      },
      "");
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    items.push_back(text.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

std::string cannot_write(const std::string& path) {
  if (path.empty()) return "no file name given";
  const bool existed = access(path.c_str(), F_OK) == 0;
  // Non-blocking, so a FIFO without a reader is an error here rather than a hang.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) return base::errno_text(errno);
  close(fd);
  if (!existed) unlink(path.c_str());
  return {};
}

}  // namespace pctx::tools
