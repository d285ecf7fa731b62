// SPDX-License-Identifier: Apache-2.0
// The commands that read the run store: flow status, runs, logs, why.
#pragma once

#include <string>
#include <vector>

namespace flow::rt {

/// Runs `cmd` (status, runs, logs or why) with its arguments; returns the
/// exit code (0, 1 when what was asked for does not exist, 2 usage).
int RunQueryCommand(const std::string& cmd, const std::vector<std::string>& args);

/// Option parsing shared by flow's commands: "--opt=value" or "--opt value".
/// True when args[i] is option `name`; its value goes to `value` and `i`
/// moves past it. False (value untouched) when args[i] is another word, or
/// `name` with no value after it.
bool TakeValue(const std::vector<std::string>& args, size_t& i, const std::string& name, std::string& value);
/// True when `a` is option `name`, with or without "=value".
bool IsOption(const std::string& a, const std::string& name);


}  // namespace flow::rt
