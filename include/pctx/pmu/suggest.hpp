// "Did you mean": the known names closest to a misspelt one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pctx::pmu {

// Edit distance with transpositions, ignoring case.
size_t edit_distance(std::string_view a, std::string_view b);

// Up to `max` candidates, closest first: those within an edit distance of about a third
// of the name's length, and those that start with the name.
std::vector<std::string> closest_names(std::string_view name,
                                       const std::vector<std::string>& candidates, size_t max = 3);

}  // namespace pctx::pmu
