// SPDX-License-Identifier: Apache-2.0
#include "exec/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#define FLOW_HAVE_CLONE_SPAWN 1
#else
#define FLOW_HAVE_CLONE_SPAWN 0
#endif

namespace flow::rt {

// Everything the child reads, in one block that does not move until the
// child has been reaped: the strings and their pointer arrays follow it.
struct Spawned::Block {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* cwd;  // nullptr: stay
  int out_fd, err_fd;
  int in_fd;  // -1: open /dev/null
  pid_t parent;  // flow: the child dies with it (PR_SET_PDEATHSIG)
  int err;   // written by the child when its exec (or chdir, ...) fails
  int step;  // Spawned::Step, with err
};

namespace {

// The signals flow catches or ignores; a child gets them back at their
// defaults (exec keeps an ignored signal ignored).
constexpr int kDefaultSignals[] = {SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGHUP, SIGQUIT};

// SetSpawnMethodForTesting: -1 none (FLOW_SPAWN decides), 0 posix_spawn, 1 clone.
std::atomic<int> g_method_for_testing{-1};

bool UseClone() {
#if FLOW_HAVE_CLONE_SPAWN
  if (int forced = g_method_for_testing.load(std::memory_order_relaxed); forced >= 0) return forced == 1;
  static const bool use = [] {
    const char* m = std::getenv("FLOW_SPAWN");
    return !(m && std::strcmp(m, "posix_spawn") == 0);
  }();
  return use;
#else
  return false;
#endif
}

#if FLOW_HAVE_CLONE_SPAWN
#if defined(__has_attribute) && __has_attribute(no_stack_protector)
#define FLOW_CHILD_CODE __attribute__((no_sanitize("address", "undefined", "thread"), no_stack_protector))
#else
#define FLOW_CHILD_CODE __attribute__((no_sanitize("address", "undefined", "thread")))
#endif
// System calls for the child, which shares flow's memory (and its errno):
// no libc wrapper, so nothing but registers and the block is touched.
[[gnu::always_inline]] inline long Sys(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
#else
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
#endif
}

[[noreturn, gnu::always_inline]] inline void ChildFail(Spawned::Block* b, long ret,
                                                      Spawned::Step step = Spawned::Step::kSetup) {
  *const_cast<volatile int*>(&b->step) = static_cast<int>(step);
  *const_cast<volatile int*>(&b->err) = static_cast<int>(-ret);
  for (;;) Sys(SYS_exit, 127);
}

// The child, between clone and exec. All signals are blocked on entry.
FLOW_CHILD_CODE int ChildMain(void* arg) {
  auto* b = static_cast<Spawned::Block*>(arg);
  // The kernel's struct sigaction, all zero: SIG_DFL, no flags, no mask.
  unsigned long dfl[4] = {0, 0, 0, 0};
  for (int s : kDefaultSignals) Sys(SYS_rt_sigaction, s, reinterpret_cast<long>(dfl), 0, sizeof(unsigned long));
  long r = Sys(SYS_setpgid, 0, 0);
  if (r < 0) ChildFail(b, r);
  // If flow dies (even by SIGKILL), the kernel kills the job: no command
  // keeps running for a flow that is gone. (What the job started itself is
  // not covered.) Flow may have died already, before this call.
  Sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  if (Sys(SYS_getppid) != b->parent) Sys(SYS_exit_group, 128 + SIGKILL);
  if ((r = Sys(SYS_dup3, b->out_fd, 1, 0)) < 0) ChildFail(b, r);
  if ((r = Sys(SYS_dup3, b->err_fd, 2, 0)) < 0) ChildFail(b, r);
  if (b->in_fd > 0) {
    if ((r = Sys(SYS_dup3, b->in_fd, 0, 0)) < 0) ChildFail(b, r);
  } else if (b->in_fd < 0) {
    long fd = Sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/dev/null"), O_RDONLY, 0);
    if (fd < 0) ChildFail(b, fd);
    if (fd != 0) {
      if ((r = Sys(SYS_dup3, fd, 0, 0)) < 0) ChildFail(b, r);
      Sys(SYS_close, fd);
    }
  }
  if (b->cwd && (r = Sys(SYS_chdir, reinterpret_cast<long>(b->cwd))) < 0) ChildFail(b, r, Spawned::Step::kChdir);
  unsigned long empty = 0;
  Sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&empty), 0, sizeof(unsigned long));
  r = Sys(SYS_execve, reinterpret_cast<long>(b->path), reinterpret_cast<long>(b->argv), reinterpret_cast<long>(b->envp));
  ChildFail(b, r, Spawned::Step::kExec);
}

// Child stacks, reused: a job's stack goes back when the job is reaped.
constexpr size_t kStackSize = 64 * 1024;
std::mutex g_stacks_mu;
std::vector<void*> g_stacks;

void* TakeStack() {
  {
    std::lock_guard<std::mutex> lock(g_stacks_mu);
    if (!g_stacks.empty()) {
      void* s = g_stacks.back();
      g_stacks.pop_back();
      return s;
    }
  }
  void* s = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  return s == MAP_FAILED ? nullptr : s;
}

void GiveStack(void* s) {
  std::lock_guard<std::mutex> lock(g_stacks_mu);
  g_stacks.push_back(s);
}
#endif

int PosixSpawn(const Spawned::Block& b, pid_t& pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&fa, b.out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, b.err_fd, 2);
  if (b.in_fd > 0)
    posix_spawn_file_actions_adddup2(&fa, b.in_fd, 0);
  else if (b.in_fd < 0)
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (b.cwd) posix_spawn_file_actions_addchdir_np(&fa, b.cwd);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int s : kDefaultSignals) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int rc = posix_spawn(&pid, b.path, &fa, &attr, b.argv, b.envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc;
}

}  // namespace

Spawned::Spawned() = default;
Spawned::Spawned(Spawned&& o) noexcept : pid_(o.pid_), block_(std::move(o.block_)), stack_(o.stack_) {
  o.pid_ = -1;
  o.stack_ = nullptr;
}
Spawned& Spawned::operator=(Spawned&& o) noexcept {
  if (this != &o) {
#if FLOW_HAVE_CLONE_SPAWN
    if (stack_) GiveStack(stack_);
#endif
    pid_ = o.pid_;
    block_ = std::move(o.block_);
    stack_ = o.stack_;
    o.pid_ = -1;
    o.stack_ = nullptr;
  }
  return *this;
}
Spawned::~Spawned() {
#if FLOW_HAVE_CLONE_SPAWN
  if (stack_) GiveStack(stack_);
#endif
}

int Spawned::LaunchError() const { return block_ ? reinterpret_cast<const Block*>(block_.get())->err : 0; }
Spawned::Step Spawned::LaunchStep() const {
  return block_ ? static_cast<Step>(reinterpret_cast<const Block*>(block_.get())->step) : Step::kExec;
}

int Spawn(const SpawnRequest& req, Spawned& out) {
  if (req.argv.empty() || req.path.empty()) return ENOENT;
  // One block: the header, the two pointer arrays, then the strings.
  size_t bytes = req.path.size() + 1 + (req.cwd.empty() ? 0 : req.cwd.size() + 1);
  for (const auto& a : req.argv) bytes += a.size() + 1;
  for (const auto& e : req.env_base) bytes += e.size() + 1;
  for (const auto& e : req.env) bytes += e.size() + 1;
  size_t envs = req.env_base.size() + req.env.size();
  size_t pointers = req.argv.size() + 1 + envs + 1;
  std::unique_ptr<char[]> block(new char[sizeof(Spawned::Block) + pointers * sizeof(char*) + bytes]);
  auto* b = new (block.get()) Spawned::Block{};
  auto** argv = reinterpret_cast<char**>(block.get() + sizeof(Spawned::Block));
  char** envp = argv + req.argv.size() + 1;
  char* text = reinterpret_cast<char*>(envp + envs + 1);
  auto put = [&](std::string_view s) {
    char* at = text;
    std::memcpy(text, s.data(), s.size());
    text[s.size()] = '\0';
    text += s.size() + 1;
    return at;
  };
  b->path = put(req.path);
  b->cwd = req.cwd.empty() ? nullptr : put(req.cwd);
  for (size_t i = 0; i < req.argv.size(); ++i) argv[i] = put(req.argv[i]);
  argv[req.argv.size()] = nullptr;
  for (size_t i = 0; i < req.env_base.size(); ++i) envp[i] = put(req.env_base[i]);
  for (size_t i = 0; i < req.env.size(); ++i) envp[req.env_base.size() + i] = put(req.env[i]);
  envp[envs] = nullptr;
  b->argv = argv;
  b->envp = envp;
  b->out_fd = req.stdout_fd;
  b->err_fd = req.stderr_fd;
  b->in_fd = req.stdin_fd;
  b->parent = getpid();
  b->err = 0;
  b->step = 0;

  pid_t pid = -1;
  if (!UseClone()) {
    if (int rc = PosixSpawn(*b, pid); rc != 0) return rc;
  } else {
#if FLOW_HAVE_CLONE_SPAWN
    void* stack = TakeStack();
    if (!stack) return ENOMEM;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = clone(ChildMain, static_cast<char*>(stack) + kStackSize, CLONE_VM | SIGCHLD, b);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) {
      GiveStack(stack);
      return e;
    }
    // The child makes its own group too; whichever runs first makes it, so
    // that a kill of the group right after this never misses the child
    // (EACCES: it has already exec'ed, so it made the group itself).
    setpgid(pid, pid);
    out.stack_ = stack;
#endif
  }
  out.pid_ = pid;
  out.block_ = std::move(block);
  return 0;
}

void EnsureStandardFds() {
  for (int fd = 0; fd < 3; ++fd)
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      int n = open("/dev/null", O_RDWR);
      if (n >= 0 && n != fd) {
        dup2(n, fd);
        close(n);
      }
    }
}

bool RequestShortSlice() {
#if defined(__linux__) && defined(SYS_sched_setattr)
  // struct sched_attr, version 0 (48 bytes); not in glibc's headers.
  struct {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
  } attr = {};
  static_assert(sizeof(attr) == 48);
  attr.size = sizeof(attr);
  attr.sched_policy = SCHED_OTHER;
  attr.sched_flags = 0x01;  // SCHED_FLAG_RESET_ON_FORK
  attr.sched_nice = getpriority(PRIO_PROCESS, 0);
  attr.sched_runtime = 100 * 1000;  // ns: the slice
  if (std::getenv("FLOW_DEFAULT_SLICE")) return false;
  return syscall(SYS_sched_setattr, 0, &attr, 0) == 0;
#else
  return false;
#endif
}

std::string FindInPath(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (size_t b = 0; b <= dirs.size();) {
    size_t e = dirs.find(':', b);
    if (e == std::string::npos) e = dirs.size();
    std::string cand = (e == b ? std::string(".") : dirs.substr(b, e - b)) + "/" + program;
    struct stat st;
    if (access(cand.c_str(), X_OK) == 0 && stat(cand.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) return cand;
    b = e + 1;
  }
  return {};
}

const char* SpawnMethod() { return UseClone() ? "clone" : "posix_spawn"; }

bool SetSpawnMethodForTesting(const char* method) {
  int forced;
  if (!method)
    forced = -1;
  else if (std::strcmp(method, "posix_spawn") == 0)
    forced = 0;
  else if (std::strcmp(method, "clone") == 0 && FLOW_HAVE_CLONE_SPAWN)
    forced = 1;
  else
    return false;
  g_method_for_testing.store(forced, std::memory_order_relaxed);
  return true;
}

}  // namespace flow::rt
