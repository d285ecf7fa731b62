// SPDX-License-Identifier: Apache-2.0
// Owns the text of every source file of a compilation and maps byte offsets
// to lines and columns; the front end's only view of files on disk.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

namespace flow {

/// Identifies one loaded file; 0 means "no file" (a diagnostic about the
/// command line, say).
struct FileId {
  uint32_t value = 0;
  bool valid() const { return value != 0; }
  friend bool operator==(FileId a, FileId b) { return a.value == b.value; }
};

/// A half-open byte range [begin, end) in one file.
struct SourceRange {
  FileId file;
  uint32_t begin = 0;
  uint32_t end = 0;
  bool valid() const { return file.valid(); }
};

struct LineCol {
  unsigned line = 0;
  unsigned col = 0;  // 1-based, in bytes
};

/// Loads files and hands out FileIds. Every buffer stays alive (and at the
/// same address) as long as the SourceManager, which must outlive every AST,
/// program and diagnostic that refers to its files.
class SourceManager {
 public:
  SourceManager() = default;
  SourceManager(const SourceManager&) = delete;
  SourceManager& operator=(const SourceManager&) = delete;

  /// Reads a file from disk; std::nullopt (and `error` set) when it cannot.
  /// Diagnostics name the file `display` (the path as the user wrote it),
  /// or `path` when `display` is empty.
  std::optional<FileId> Load(const std::string& path, std::string* error, const std::string& display = "");
  /// Adds an in-memory file (tests, the embedded stdlib, fuzzing).
  FileId AddBuffer(std::string path, std::string text);

  std::string_view Text(FileId id) const;
  const std::string& Path(FileId id) const;
  LineCol GetLineCol(FileId id, uint32_t offset) const;
  /// Returns the id of a file already loaded from this (canonical) path.
  std::optional<FileId> Find(const std::string& path) const;

  llvm::SourceMgr& llvm_mgr() { return mgr_; }
  const llvm::SourceMgr& llvm_mgr() const { return mgr_; }

 private:
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> owned_;  // file contents; mgr_ holds named views
  llvm::SourceMgr mgr_;
  std::vector<std::string> paths_;  // index: FileId - 1
};

}  // namespace flow
