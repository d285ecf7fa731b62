// SPDX-License-Identifier: Apache-2.0
// Numbers with units ("4GB", "1.5h"): the size and duration units of the
// language (SPEC 1.1: each size unit is 1024 times the one before).
#pragma once

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <utility>

namespace flow::plan {

using UnitTable = std::pair<const char*, double>;

inline constexpr UnitTable kSizeUnits[] = {{"B", 1},
                                           {"KB", 1024.},
                                           {"MB", 1048576.},
                                           {"GB", 1073741824.},
                                           {"TB", 1099511627776.},
                                           {"KiB", 1024.},
                                           {"MiB", 1048576.},
                                           {"GiB", 1073741824.},
                                           {"TiB", 1099511627776.}};
inline constexpr UnitTable kDurationUnits[] = {{"ms", 1}, {"s", 1e3}, {"m", 6e4}, {"h", 3.6e6}, {"d", 8.64e7}};

/// A non-negative decimal number followed by one of `units`: the number
/// times the unit's factor. std::nullopt for anything else ("1.2.3GB",
/// "GB", "4XB").
template <size_t N>
std::optional<double> ParseWithUnit(const std::string& text, const UnitTable (&units)[N]) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  std::string number = text.substr(0, i);
  if (number.empty() || number == "." || std::count(number.begin(), number.end(), '.') > 1) return std::nullopt;
  double v;
  try {
    size_t used = 0;
    v = std::stod(number, &used);
    if (used != number.size()) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = text.substr(i);
  for (const auto& [name, factor] : units)
    if (unit == name) return v * factor;
  return std::nullopt;
}

}  // namespace flow::plan
