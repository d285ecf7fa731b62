// SPDX-License-Identifier: Apache-2.0
// A hand-written recursive-descent parser for .flow files without errors.
// It builds exactly the ast::Module that the ANTLR path (antlr_bridge.cpp and
// ast_builder.cpp) builds: the same nodes, ranges and expression ids. It
// reports nothing: at the first token, literal, nesting or stage item that
// would draw a diagnostic it gives up, and ParseFile parses the file again
// with ANTLR, which reports it. grammar/Flow.g4 stays the definition of the
// language; a differential test (tests/unit/syntax/fast_parser_test.cpp)
// holds the two parsers equal on every .flow file in the tree, on generated
// programs and on thousands of mutations of them.
//
// Why: on the 10,000-stage files of bench/, ANTLR's parse and the walk of
// its parse trees were two thirds of `flowc`'s front end and most of the
// time before `flow run` starts its first stage (docs/performance.md).
#pragma once

#include <string_view>

#include "ast/ast.h"
#include "syntax/offset_map.h"

namespace flow::syntax {

/// Parses `body`, the text of the file `file_text` that starts at byte
/// `map.base` (after a byte order mark, if any), into `module`. Returns false
/// if the text needs a diagnostic; `module` is then partly built and must be
/// discarded.
bool FastParse(std::string_view file_text, std::string_view body, const OffsetMap& map, ast::Module& module);

}  // namespace flow::syntax
