// SPDX-License-Identifier: Apache-2.0
// The runtime's entry to a plan: reads a plan file and refuses anything that
// is not a sound plan of a version this runtime knows.
#pragma once

#include <string>

#include "llvm/Support/Error.h"
#include "plan/plan.h"

namespace flow::rt {

/// Reads, parses and verifies the plan at `path`. The error says which
/// file, where in it (a JSON path) and what is wrong.
llvm::Expected<plan::Plan> LoadPlanFile(const std::string& path);

}  // namespace flow::rt
