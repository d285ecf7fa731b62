// SPDX-License-Identifier: Apache-2.0
#include "util/remove_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

namespace flow::rt {

namespace {
constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
}  // namespace

bool RemoveTree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return errno == ENOENT;
  if (!S_ISDIR(st.st_mode)) return unlink(path.c_str()) == 0;
  int fd = open(path.c_str(), kDirFlags);
  if (fd < 0) return false;
  int first_error = 0;
  auto failed = [&] {
    if (first_error == 0) first_error = errno;
  };
  // The folders entered below `path`, and at each depth the names that
  // could not be removed (skipped from then on, so the walk ends).
  std::vector<std::string> entered;
  std::vector<std::set<std::string>> kept(1);
  // The device and inode of each folder left to enter a subfolder: coming
  // back up through "..", the folder reached must be that one. (A folder
  // moved elsewhere meanwhile would lead into its new parent, which is
  // not to be emptied; the walk stops there, as GNU rm's does.)
  std::vector<std::pair<dev_t, ino_t>> up;
  for (;;) {
    // Empty the current folder of everything but folders; enter the first
    // folder found.
    std::string sub;
    int dup_fd = dup(fd);
    DIR* d = dup_fd < 0 ? nullptr : fdopendir(dup_fd);
    if (d) rewinddir(d);  // the copy shares the position where the last scan stopped
    if (!d) {
      if (dup_fd >= 0) close(dup_fd);
      failed();
    } else {
      while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == ".." || kept.back().count(name)) continue;
        struct stat es;
        if (fstatat(fd, name.c_str(), &es, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
        if (S_ISDIR(es.st_mode)) {
          sub = name;
          break;
        }
        if (unlinkat(fd, name.c_str(), 0) != 0) {
          failed();
          kept.back().insert(name);
        }
      }
      closedir(d);
    }
    if (!sub.empty()) {
      struct stat here;
      int child = fstat(fd, &here) == 0 ? openat(fd, sub.c_str(), kDirFlags) : -1;
      if (child < 0) {  // cannot enter it: perhaps it is empty
        if (unlinkat(fd, sub.c_str(), AT_REMOVEDIR) != 0) {
          failed();
          kept.back().insert(sub);
        }
        continue;
      }
      close(fd);
      fd = child;
      up.emplace_back(here.st_dev, here.st_ino);
      entered.push_back(sub);
      kept.emplace_back();
      continue;
    }
    // The current folder holds nothing more that can go: leave it, and
    // remove it from its parent.
    if (entered.empty()) break;
    int parent = openat(fd, "..", kDirFlags);
    struct stat there;
    if (parent >= 0 && (fstat(parent, &there) != 0 || there.st_dev != up.back().first ||
                        there.st_ino != up.back().second)) {
      close(parent);
      parent = -1;
      errno = ESTALE;  // not the folder it was entered from: moved meanwhile
    }
    if (parent < 0) {
      failed();
      break;
    }
    close(fd);
    fd = parent;
    up.pop_back();
    kept.pop_back();
    if (unlinkat(fd, entered.back().c_str(), AT_REMOVEDIR) != 0) {
      failed();
      kept.back().insert(entered.back());
    }
    entered.pop_back();
  }
  close(fd);
  if (rmdir(path.c_str()) != 0) failed();
  if (first_error != 0) errno = first_error;
  return first_error == 0;
}

}  // namespace flow::rt
