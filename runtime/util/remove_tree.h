// SPDX-License-Identifier: Apache-2.0
// Removing a folder and everything in it, at any depth.
#pragma once

#include <string>

namespace flow::rt {

/// Removes `path` and everything under it. It walks with one folder open
/// at a time (entering with openat, coming back up through ".."), so
/// neither PATH_MAX nor the limit of open files bounds the depth: a
/// command that made a tree 20,000 folders deep (whose paths no path-based
/// removal can reach) is removed too. Links are removed, never followed. A
/// path that does not exist is no error. Returns false, with errno of the
/// first failure, when anything stays; what could be removed is removed.
bool RemoveTree(const std::string& path);

}  // namespace flow::rt
