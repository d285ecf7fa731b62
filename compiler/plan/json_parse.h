// SPDX-License-Identifier: Apache-2.0
// A JSON reader for text that flow did not write itself in this process:
// plan files, the JSON outputs of stages, rows of the run store. It gives
// the same values and accepts the same documents as llvm::json::parse, but
//  - it never recurses, and refuses documents nested deeper than a limit,
//    where llvm::json::parse recursed until the stack overflowed (a stage
//    output of 300,000 nested brackets crashed `flow run`);
//  - it takes time linear in the text, where llvm::json::parse copied every
//    array element already read each time an array grew (json::Value's move
//    is not noexcept, so std::vector copies on reallocation): a plan whose
//    expressions nest 9,000 deep took minutes to load.
#pragma once

#include <cstddef>

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace flow::plan {

/// Plans and rows of the run store: deeper than any plan flowc writes
/// (expressions nest at most 10,000 deep, two JSON levels each) and than any
/// row flow writes (values of at most kMaxValueJsonDepth, wrapped), and
/// shallow enough that the recursive code that reads, frees and prints a
/// json::Value stays well inside the stack.
inline constexpr size_t kMaxJsonDepth = 25000;
/// Values from outside: stage outputs and `--param` values. Types nest at
/// most 256 deep; a `json` value may nest deeper, but not this deep.
inline constexpr size_t kMaxValueJsonDepth = 1000;

/// Parses one JSON document. Errors read "[LINE:COL, byte=OFFSET]: what",
/// as llvm::json's do.
llvm::Expected<llvm::json::Value> ParseJson(llvm::StringRef text, size_t max_depth);

}  // namespace flow::plan
