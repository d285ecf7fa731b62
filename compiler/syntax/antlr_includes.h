// SPDX-License-Identifier: Apache-2.0
// Includes the ANTLR runtime and the generated parser with their warnings
// silenced (kuzu's pragma fence). Internal to compiler/syntax.
#pragma once

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "antlr4-runtime.h"
#include "FlowLexer.h"
#include "FlowParser.h"
#pragma GCC diagnostic pop
