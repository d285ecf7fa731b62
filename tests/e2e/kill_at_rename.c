// SPDX-License-Identifier: Apache-2.0
// A preload library for the crash tests (tests/e2e): the process that
// loads it kills itself with SIGKILL when it is about to rename a file to a
// name under .flow/out/ that ends with $FLOW_TEST_KILL_AT_RENAME, as if
// `kill -9` landed between two renames of a commit.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rename(const char* from, const char* to) {
  const char* suffix = getenv("FLOW_TEST_KILL_AT_RENAME");
  if (suffix && *suffix && strstr(to, "/.flow/out/")) {
    size_t n = strlen(to), m = strlen(suffix);
    if (n >= m && strcmp(to + n - m, suffix) == 0) kill(getpid(), SIGKILL);
  }
  int (*real)(const char*, const char*) = (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "rename");
  return real(from, to);
}
