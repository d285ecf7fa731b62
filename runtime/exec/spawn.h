// SPDX-License-Identifier: Apache-2.0
// Starting one process the way every job starts: its own process group,
// stdin from /dev/null, stdout and stderr into given descriptors, the
// signals flow catches back at their defaults, an empty signal mask.
//
// On Linux (x86-64 and AArch64) the child is made with clone(CLONE_VM)
// *without* CLONE_VFORK, on a stack of its own, so flow goes on with its
// work while the child execs. posix_spawn (and vfork) would suspend flow
// until the exec is done, which measured 0.7 ms per job on this project's
// 2-core machine while another job held the other core: most of the wall
// time of a fan-out of short jobs. The child touches nothing of flow's
// memory but one block made for it (see Spawned) and makes raw system
// calls only (no errno, no locks, no allocation). It also asks to be
// killed when the thread that started it dies (PR_SET_PDEATHSIG): call
// Spawn from a thread that outlives its jobs (flow's main thread).
// Elsewhere, or with FLOW_SPAWN=posix_spawn in the environment,
// posix_spawn is used (and a job outlives a killed flow).
#pragma once

#include <sys/types.h>

#include <memory>
#include <span>
#include <string_view>
#include <string>
#include <vector>

namespace flow::rt {

// What Spawn copies into the child's block (so the caller's strings need
// not outlive the call).
struct SpawnRequest {
  std::string_view path;  // the program to exec: a path (with a '/'), already searched in PATH
  std::span<const std::string> argv;
  std::span<const std::string> env_base, env;  // the environment: env_base's entries, then env's
  std::string_view cwd;     // "" = flow's own
  int stdout_fd = -1;       // dup'ed to 1 in the child
  int stderr_fd = -1;       // dup'ed to 2 in the child
  int stdin_fd = -1;        // dup'ed to 0 in the child; -1: /dev/null, opened there; 0: flow's own
};

/// A started child. Keep it until the child has been reaped: the child
/// reads its block (the argument and environment strings, its stack) until
/// its exec succeeds, and writes its exec error there when it fails.
class Spawned {
 public:
  Spawned();
  Spawned(Spawned&&) noexcept;
  Spawned& operator=(Spawned&&) noexcept;
  ~Spawned();
  pid_t pid() const { return pid_; }
  /// After the child was reaped: the errno of a failed exec (or chdir) in
  /// the child, which then exited with 127; 0 when its program ran.
  int LaunchError() const;
  /// Which step failed, when LaunchError() is not 0.
  enum class Step { kSetup, kChdir, kExec };
  Step LaunchStep() const;
  struct Block;  // what the child reads (spawn.cpp)

 private:
  friend int Spawn(const SpawnRequest&, Spawned&);
  pid_t pid_ = -1;
  std::unique_ptr<char[]> block_;
  void* stack_ = nullptr;
};

/// Starts the child. Returns 0 and fills `out`, or an errno when nothing
/// was started (the program was not found, the system refused a process).
int Spawn(const SpawnRequest& request, Spawned& out);

/// Makes sure descriptors 0, 1 and 2 are open (on /dev/null when they were
/// closed), so that pipes never take those numbers.
void EnsureStandardFds();

/// Asks the kernel (Linux 6.12 and later, EEVDF) for a short time slice,
/// 0.1 ms, for flow's own thread, so that when a child exits, flow's wake-up
/// preempts the other running job at once instead of waiting out its slice
/// (on 2 busy cores that wait was a large part of the time between one
/// job's exit and the next one's start). Children get the default slice
/// back (SCHED_RESET_ON_FORK; that also resets a negative nice to 0 in
/// them). Does nothing where the kernel does not support it. Returns
/// whether the kernel took it.
bool RequestShortSlice();

/// The path of `program` in PATH (the first executable file of that name),
/// "" when there is none; `program` itself when it holds a '/'.
std::string FindInPath(const std::string& program);

/// "clone" or "posix_spawn": how Spawn starts children in this process.
const char* SpawnMethod();

/// For tests only (flow itself never calls it): makes Spawn use `method`
/// ("clone" or "posix_spawn") from now on in this process, whatever
/// FLOW_SPAWN says, so that one test binary can cover both ways; nullptr
/// goes back to what FLOW_SPAWN chose. Returns false, and changes nothing,
/// for an unknown name or for "clone" where it is not available.
bool SetSpawnMethodForTesting(const char* method);

}  // namespace flow::rt
