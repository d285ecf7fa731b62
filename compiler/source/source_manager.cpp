// SPDX-License-Identifier: Apache-2.0
// Loads source files into llvm::SourceMgr buffers.
#include "source/source_manager.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

namespace flow {

std::optional<FileId> SourceManager::Load(const std::string& path,
                                          std::string* error,
                                          const std::string& display) {
  // Only regular files: a device or a pipe may never end (/dev/zero).
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(path, status)) {
    *error = ec.message();
    return std::nullopt;
  }
  if (status.type() != llvm::sys::fs::file_type::regular_file) {
    *error = "not a regular file";
    return std::nullopt;
  }
  if (status.getSize() >= (uint64_t{1} << 30)) {
    *error = "larger than 1 GiB";
    return std::nullopt;
  }
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/true);
  if (!buffer) {
    *error = buffer.getError().message();
    return std::nullopt;
  }
  const std::string& name = display.empty() ? path : display;
  // SourceMgr prints the buffer's identifier: give it the display name.
  auto named = llvm::MemoryBuffer::getMemBuffer((*buffer)->getMemBufferRef().getBuffer(), name,
                                                /*RequiresNullTerminator=*/true);
  owned_.push_back(std::move(*buffer));
  unsigned id = mgr_.AddNewSourceBuffer(std::move(named), llvm::SMLoc());
  paths_.push_back(name);
  return FileId{id};
}

FileId SourceManager::AddBuffer(std::string path, std::string text) {
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(text, path);
  unsigned id = mgr_.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
  paths_.push_back(std::move(path));
  return FileId{id};
}

std::string_view SourceManager::Text(FileId id) const {
  llvm::StringRef text = mgr_.getMemoryBuffer(id.value)->getBuffer();
  return {text.data(), text.size()};
}

const std::string& SourceManager::Path(FileId id) const {
  return paths_[id.value - 1];
}

LineCol SourceManager::GetLineCol(FileId id, uint32_t offset) const {
  const char* start = mgr_.getMemoryBuffer(id.value)->getBufferStart();
  auto [line, col] = mgr_.getLineAndColumn(llvm::SMLoc::getFromPointer(start + offset), id.value);
  return {line, col};
}

std::optional<FileId> SourceManager::Find(const std::string& path) const {
  for (size_t i = 0; i < paths_.size(); ++i)
    if (paths_[i] == path) return FileId{static_cast<uint32_t>(i + 1)};
  return std::nullopt;
}

}  // namespace flow
