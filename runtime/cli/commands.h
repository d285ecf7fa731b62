// SPDX-License-Identifier: Apache-2.0
// The commands that read the run store: flow status, runs, logs, why.
#pragma once

#include <string>
#include <vector>

namespace flow::rt {

/// Runs `cmd` (status, runs, logs or why) with its arguments; returns the
/// exit code (0, 1 when what was asked for does not exist, 2 usage).
int RunQueryCommand(const std::string& cmd, const std::vector<std::string>& args);

/// The explanation of `flow why`: what differs between two key-parts
/// documents (JSON objects of stage, definition, command, inputs, files).
std::vector<std::string> ExplainKeyChange(const std::string& before, const std::string& after);

}  // namespace flow::rt
