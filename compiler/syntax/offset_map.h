// SPDX-License-Identifier: Apache-2.0
// Token positions (code points, as ANTLR and the hand-written lexer count
// them) to byte offsets in the file. Internal to compiler/syntax; no ANTLR.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "source/source_manager.h"

namespace flow::syntax {

/// Maps token positions of one parsed text to byte offsets in the file.
/// `cp_to_byte` is empty when the text is ASCII.
struct OffsetMap {
  FileId file;
  uint32_t base = 0;    // byte offset of the parsed text in the file
  uint32_t length = 0;  // bytes in the parsed text
  std::vector<uint32_t> cp_to_byte;  // one entry per code point, plus the end
  /// Clamped: conjured tokens from error recovery have no real position.
  uint32_t Byte(size_t cp) const {
    if (cp_to_byte.empty()) return base + static_cast<uint32_t>(std::min<size_t>(cp, length));
    if (cp >= cp_to_byte.size()) return base + cp_to_byte.back();
    return base + cp_to_byte[cp];
  }
};

/// The map of `text`, which starts at byte `base` of `file`.
inline OffsetMap MakeMap(FileId file, uint32_t base, std::string_view text) {
  OffsetMap map;
  map.file = file;
  map.base = base;
  map.length = static_cast<uint32_t>(text.size());
  bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; });
  if (!ascii) {
    map.cp_to_byte.reserve(text.size() + 1);
    for (uint32_t i = 0; i < text.size(); ++i)
      if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) map.cp_to_byte.push_back(i);
    map.cp_to_byte.push_back(static_cast<uint32_t>(text.size()));
  }
  return map;
}

}  // namespace flow::syntax
