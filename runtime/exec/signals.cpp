// SPDX-License-Identifier: Apache-2.0
#include "exec/signals.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace flow::rt {

namespace {
int g_pipe[2] = {-1, -1};
std::atomic<int> g_interrupts{0};
std::atomic<int> g_signal{0};

void OnSignal(int sig) {
  int saved = errno;
  if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
    g_interrupts.fetch_add(1);
    g_signal.store(sig);
  }
  char c = 1;
  [[maybe_unused]] ssize_t n = write(g_pipe[1], &c, 1);  // non-blocking: a full pipe is already awake
  errno = saved;
}
}  // namespace

int InstallSignalPipe() {
  if (g_pipe[0] >= 0) return g_pipe[0];
  if (pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCHLD, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A closed terminal (or a dropped ssh session) cancels the run as Ctrl-C
  // does, unless flow was started with SIGHUP ignored (nohup): then it
  // stays ignored and the run goes on.
  struct sigaction hup = {};
  if (sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN) sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return g_pipe[0];
}

void DrainSignalPipe() {
  char buf[256];
  while (read(g_pipe[0], buf, sizeof buf) > 0) {
  }
}

int InterruptCount() { return g_interrupts.load(); }
int InterruptSignal() { return g_signal.load(); }

}  // namespace flow::rt
