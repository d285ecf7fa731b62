// SPDX-License-Identifier: Apache-2.0
// Checking a JSON value against a plan type: the values a command wrote
// for its outputs (flow run), `--param` values of lists, records and json
// (flowc and flow run), the inputs a stage receives.
#pragma once

#include <string>

#include "llvm/Support/JSON.h"
#include "plan/plan.h"

namespace flow::plan {

/// Checks `value` against `type` and normalizes it (durations to
/// milliseconds, sizes to bytes, ints widened where a float is declared).
/// On a mismatch returns false and sets `error` ("expected float, found
/// string", naming the field or index for records and lists).
bool CheckValue(const Plan& plan, const Type& type, llvm::json::Value& value, std::string& error);

}  // namespace flow::plan
