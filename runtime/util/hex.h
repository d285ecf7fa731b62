// SPDX-License-Identifier: Apache-2.0
// 64-bit hashes as 16 lowercase hex digits (cache keys, file hashes).
#pragma once

#include <cstdint>
#include <string>

namespace flow::rt {

inline std::string Hex64(uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[i] = digits[v & 15];
  return s;
}

/// The inverse of Hex64 (lowercase hex digits only).
inline uint64_t FromHex64(const std::string& s) {
  uint64_t v = 0;
  for (char c : s) v = v * 16 + (c >= 'a' ? c - 'a' + 10 : c - '0');
  return v;
}

}  // namespace flow::rt
