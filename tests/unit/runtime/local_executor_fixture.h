// SPDX-License-Identifier: Apache-2.0
// What the local executor's tests share (local_executor_test.cpp and
// local_executor_spawn_test.cpp): a fixture with a fresh folder, launch specs
// whose logs go there, and helpers to run a job to its end and to watch
// processes go.
#pragma once

#include "exec/local_executor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "exec/spawn.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"


namespace flow::rt::executor_test {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// True when process `pid` is gone (or a zombie nobody of ours will reap).
inline bool Gone(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  size_t p = stat.rfind(')');
  return p != std::string::npos && p + 2 < stat.size() && (stat[p + 2] == 'Z' || stat[p + 2] == 'X');
}

inline bool WaitGone(pid_t pid, double seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (Gone(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Gone(pid);
}

class LocalExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flow_exec_test.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  LaunchSpec Spec(std::vector<std::string> argv, const std::string& name = "job") {
    LaunchSpec s;
    s.instance = name;
    s.argv = std::move(argv);
    const char* path = getenv("PATH");
    s.env = {std::string("PATH=") + (path ? path : "/usr/bin:/bin")};
    s.cwd = dir_;
    s.stdout_path = dir_ + "/" + name + ".out";
    s.stderr_path = dir_ + "/" + name + ".err";
    return s;
  }
  LaunchSpec Sh(const std::string& script, const std::string& name = "job") {
    return Spec({"/bin/sh", "-c", script}, name);
  }
  static uint64_t Submit(LocalExecutor& ex, const LaunchSpec& spec) {
    auto r = ex.Submit(spec);
    if (auto* err = std::get_if<std::string>(&r)) {
      ADD_FAILURE() << "Submit failed: " << *err;
      return 0;
    }
    return std::get<uint64_t>(r);
  }
  /// Polls until job `id` completes (at most `limit_s`).
  static Completion WaitFor(LocalExecutor& ex, uint64_t id, double limit_s = 10) {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
    while (std::chrono::steady_clock::now() < until) {
      for (auto& c : ex.Poll(0.5))
        if (c.job == id) return c;
    }
    ADD_FAILURE() << "job " << id << " did not complete within " << limit_s << " s";
    return {};
  }
  Completion RunOne(const LaunchSpec& spec, int64_t grace_ms = 5000) {
    LocalExecutor ex(grace_ms);
    uint64_t id = Submit(ex, spec);
    Completion c = WaitFor(ex, id);
    EXPECT_EQ(ex.Running(), 0u);
    return c;
  }
  std::string dir_;
};

}  // namespace flow::rt::executor_test
