// SPDX-License-Identifier: Apache-2.0
#include "engine/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "fmt/format.h"

namespace flow::rt {

std::unique_ptr<Progress> MakeProgress(ProgressMode mode, bool dry_run) {
  if (mode == ProgressMode::Auto) mode = isatty(STDERR_FILENO) ? ProgressMode::Live : ProgressMode::Plain;
  return std::make_unique<Progress>(mode == ProgressMode::Live, mode == ProgressMode::None, dry_run);
}

Progress::Progress(bool live, bool quiet, bool dry_run) : live_(live), quiet_(quiet), dry_run_(dry_run) {}

Progress::~Progress() { Clear(); }

double Progress::Elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::Count(bool node, const char* status) {
  if (!node) return;
  ++done_;
  if (std::strcmp(status, "failed") == 0) ++failed_;
}

void Progress::Started(const std::string& name, int attempt) {
  running_.insert(name);
  if (quiet_) return;
  if (live_) return Draw(false);
  std::fprintf(stderr, "[%8.3fs] %-9s %s%s\n", Elapsed(), "start", name.c_str(),
               attempt > 1 ? fmt::format(" (attempt {})", attempt).c_str() : "");
}

void Progress::Line(const std::string& verb, const std::string& name, const std::string& detail) {
  if (verb == "done" || verb == "failed" || verb == "retry" || verb == "cancelled") running_.erase(name);
  if (quiet_) return;
  if (dry_run_) {
    std::fprintf(stdout, "%-9s %s%s%s\n", verb.c_str(), name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
    return;
  }
  bool notable = verb == "failed" || verb == "retry" || verb == "cancel" || verb == "expanded";
  if (live_) {
    if (notable) {
      Clear();
      std::fprintf(stderr, "%-9s %s%s%s\n", verb.c_str(), name.c_str(), detail.empty() || name.empty() ? "" : ": ",
                   detail.c_str());
    }
    return Draw(notable);
  }
  std::fprintf(stderr, "[%8.3fs] %-9s %s%s%s\n", Elapsed(), verb.c_str(), name.c_str(),
               detail.empty() || name.empty() ? "" : ": ", detail.c_str());
}

void Progress::Tick(size_t queued, size_t running) {
  queued_ = queued;
  (void)running;
  if (live_ && !quiet_) Draw(false);
}

void Progress::Raw(const std::string& text) {
  if (quiet_) return;
  Clear();
  std::fputs(text.c_str(), stderr);
  if (live_) Draw(true);
}

void Progress::Clear() {
  if (live_ && drawn_) {
    std::fputs("\r\033[K", stderr);
    drawn_ = false;
  }
}

void Progress::Draw(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  int secs = static_cast<int>(Elapsed());
  std::string names;
  for (const auto& n : running_) {
    if (names.size() > 60) {
      names += ", ...";
      break;
    }
    names += (names.empty() ? ": " : ", ") + n;
  }
  std::string line = fmt::format("[{}:{:02}] {}/{} done, {} running, {} queued, {} failed{}", secs / 60, secs % 60,
                                 done_, total_, running_.size(), queued_, failed_, names);
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::Finish() { Clear(); }

}  // namespace flow::rt
