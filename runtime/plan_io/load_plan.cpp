// SPDX-License-Identifier: Apache-2.0
// Loads plan files for the runtime.
#include "plan_io/load_plan.h"

#include "llvm/Support/MemoryBuffer.h"

namespace flow::rt {

llvm::Expected<plan::Plan> LoadPlanFile(const std::string& path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(buffer.getError(), "cannot read plan '%s': %s", path.c_str(),
                                   buffer.getError().message().c_str());
  return plan::Deserialize((*buffer)->getBuffer(), path);
}

}  // namespace flow::rt
