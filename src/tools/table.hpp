// Output for people and for machines: an aligned table, or CSV with a chosen separator.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace pctx::tools {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t size() const { return rows_.size(); }

  void print(std::FILE* out, bool with_header = true) const;
  // CSV: fields holding the separator, quotes or newlines are quoted.
  void print_csv(std::FILE* out, const std::string& separator) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace pctx::tools
