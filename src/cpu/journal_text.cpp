#include "cpu/journal_text.hpp"

#include <sys/types.h>

#include <charconv>
#include <limits>
#include <optional>

#include "pctx/cpu/cpu_set.hpp"

namespace pctx::cpu {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

// The next blank-separated word of `line`, removed from it; empty at the end of the line.
std::string_view next_word(std::string_view& line) {
  while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
  size_t n = 0;
  while (n < line.size() && !is_blank(line[n])) ++n;
  const std::string_view word = line.substr(0, n);
  line.remove_prefix(n);
  return word;
}

// A whole word of decimal digits (no sign) whose value is within [low, high].
std::optional<long> number_in(std::string_view word, long low, long high) {
  long v = 0;
  const char* end = word.data() + word.size();
  const auto [ptr, ec] = std::from_chars(word.data(), end, v);
  if (word.empty() || word[0] < '0' || word[0] > '9' || ec != std::errc() || ptr != end ||
      v < low || v > high) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

JournalEntries parse_journal(std::string_view text) {
  JournalEntries entries;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    const auto cpu = number_in(next_word(line), 0, CpuSet::kMaxCpus - 1);
    const auto pid = number_in(next_word(line), 1, std::numeric_limits<pid_t>::max());
    if (cpu && pid && next_word(line).empty()) entries[static_cast<int>(*cpu)] = *pid;
  }
  return entries;
}

std::string format_journal(const JournalEntries& entries) {
  std::string out;
  for (const auto& [cpu, pid] : entries) {
    out += std::to_string(cpu) + ' ' + std::to_string(pid) + '\n';
  }
  return out;
}

}  // namespace pctx::cpu
