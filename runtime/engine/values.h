// SPDX-License-Identifier: Apache-2.0
// Typed values at run time: checking what a command wrote against an
// output's declared type, finding the paths inside a value, and hashing
// files for cache keys.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "llvm/Support/JSON.h"
#include "plan/plan.h"
#include "plan/value_check.h"
#include "util/hex.h"

namespace flow::rt {

class RunStore;

/// plan::CheckValue: a value against its type, normalized.
using plan::CheckValue;

/// Calls `fn` with every path (a `file` or `dir` value) inside `value`.
void ForEachPath(const plan::Plan& plan, const plan::Type& type, const llvm::json::Value& value,
                 const std::function<void(const std::string& path, bool dir)>& fn);

/// Calls `fn` with every path inside `value`; what `fn` leaves in `path`
/// replaces it.
void RewritePaths(const plan::Plan& plan, const plan::Type& type, llvm::json::Value& value,
                  const std::function<void(std::string& path, bool dir)>& fn);

/// What differs between two key-parts documents (JSON objects of stage,
/// definition, command, inputs, files), one line each: the explanation of
/// `flow why` and of a dry run's "would run".
std::vector<std::string> ExplainKeyChange(const std::string& before, const std::string& after);

/// What a file of mode `mode` (from stat) is, for messages: "a file",
/// "a folder", "a named pipe", ...
const char* KindOf(mode_t mode);

/// A short text of a value for messages: JSON, cut at about 60 characters.
std::string Brief(const llvm::json::Value& value);

/// Content hash (XXH64) of a file, or of a folder (names and contents of
/// everything under it). A file whose size, mtime and inode are those of
/// its last hash in `store` is not read again. `root` resolves relative
/// paths. `path` itself may be a link (followed) and must end at a regular
/// file or a folder; inside a folder, a link counts by its target's text
/// (never followed) and a named pipe, socket or device by its kind (never
/// opened). std::nullopt with `error` set when it cannot be read.
/// `kind`: what the value's type says `path` is; a folder where a file is
/// expected (or the other way round) is an error.
enum class PathKind { Any, File, Dir };
std::optional<uint64_t> HashPath(RunStore* store, const std::string& root, const std::string& path,
                                 std::string& error, PathKind kind = PathKind::Any);


}  // namespace flow::rt
