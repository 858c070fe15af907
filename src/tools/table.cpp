#include "tools/table.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace pctx::tools {

void Table::print(std::FILE* out, bool with_header) const {
  std::vector<size_t> width(headers_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(headers_);
  for (const auto& r : rows_) measure(r);
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      // The last column is not padded, so long descriptions do not leave trailing blanks.
      line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}  ", row[i], width[i]);
    }
    fmt::print(out, "{}\n", line);
  };
  if (with_header) emit(headers_);
  for (const auto& r : rows_) emit(r);
}

void Table::print_csv(std::FILE* out, const std::string& separator) const {
  auto field = [&](const std::string& f) {
    if (f.find_first_of(separator + "\"\n") == std::string::npos) return f;
    std::string q = "\"";
    for (char c : f) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) line += (i ? separator : "") + field(row[i]);
    fmt::print(out, "{}\n", line);
  };
  emit(headers_);
  for (const auto& r : rows_) emit(r);
}

}  // namespace pctx::tools
