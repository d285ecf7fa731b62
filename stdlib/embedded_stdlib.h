// SPDX-License-Identifier: Apache-2.0
// The standard library's .flow modules, compiled into the binary so that
// `import std.NAME` works without any files installed.
#pragma once

#include <string_view>
#include <vector>

namespace flow {

struct EmbeddedModule {
  std::string_view path;  // relative to the stdlib root: "std/ml.flow"
  std::string_view text;
};

const std::vector<EmbeddedModule>& EmbeddedStdlib();

}  // namespace flow
