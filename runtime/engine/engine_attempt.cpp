// SPDX-License-Identifier: Apache-2.0
// The engine: starting an attempt through the executor, and taking its
// result: the output checks, the commit, retries and failures.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/engine_impl.h"
#include "engine/values.h"
#include "exec/signals.h"
#include "fmt/format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/xxhash.h"
#include "plan/json_parse.h"
#include "store/run_store.h"
#include "util/remove_tree.h"

extern char** environ;

namespace flow::rt::engine_detail {

void Engine::Launch(uint32_t id, const std::vector<int>& gpus) {
  Item& it = items_[id];
  const plan::Instance& inst = InstanceOf(it);
  const plan::Stage& stage = plan_.StageOf(inst);
  ++it.attempt;
  it.gpus = gpus;
  std::string error;
  if (!made_dirs_) {
    if (!MakeDirs(Abs(".flow/out"), error) || !MakeDirs(Abs(fmt::format(".flow/logs/{}", run_)), error))
      return AttemptFailed(id, error, nullptr);
    made_dirs_ = true;
  }
  // The stage's own output folder (kept from run to run).
  if (made_stage_dirs_.insert(inst.stage).second) {
    std::string rel = it.dir.substr(0, it.dir.rfind('/'));
    std::string folder = Abs(rel);
    if ((::mkdir(folder.c_str(), 0755) != 0 && errno != EEXIST) || !TmpRootFor(inst.stage, rel, error)) {
      if (error.empty()) error = "cannot create " + folder + ": " + std::strerror(errno);
      made_stage_dirs_.erase(inst.stage);
      return AttemptFailed(id, error, nullptr);
    }
  }
  if (!TakeTmpSlot(id, error)) return AttemptFailed(id, error, nullptr);
  it.stdout_path = AttemptLogPath(run_, it.name, it.attempt, false);
  it.stderr_path = AttemptLogPath(run_, it.name, it.attempt, true);
  auto pieces = Pieces(id, stage.command, it.tmp, true, error);
  if (!error.empty()) return AttemptFailed(id, "command: " + error, nullptr);
  CommandLine cmd = BuildCommand(pieces);
  it.command = cmd.text;

  LaunchSpec spec;
  spec.instance = it.name;
  spec.attempt = it.attempt;
  spec.argv = cmd.argv;
  spec.display = cmd.text;
  spec.cwd = opt_.project_dir;
  spec.stdout_path = Abs(it.stdout_path);
  spec.stderr_path = Abs(it.stderr_path);
  spec.scratch_dir = tmp_abs_;
  spec.timeout_ms = stage.timeout_ms;
  Demand d = DemandOf(stage);
  spec.reservation = {d.cpus, static_cast<int64_t>(d.memory_bytes), gpus};
  // The environment: flow's own, the stage's env block, then ours.
  if (base_env_.empty())
    for (char** e = environ; e && *e; ++e) {
      std::string s = *e;
      size_t eq = s.find('=');
      if (eq != std::string::npos) base_env_[s.substr(0, eq)] = s.substr(eq + 1);
    }
  std::map<std::string, std::string> env;
  std::map<std::string, std::string>& use = stage.env.empty() ? base_env_ : env;
  if (!stage.env.empty()) env = base_env_;
  for (const auto& var : stage.env) {
    auto ps = Pieces(id, var.value, it.tmp, false, error);
    if (!error.empty()) return AttemptFailed(id, "env " + var.name + ": " + error, nullptr);
    std::string text;
    for (const auto& p : ps) {
      if (p.literal) text += p.text;
      for (const auto& w : p.words) text += w;
    }
    env[var.name] = text;
  }
  std::string devices;
  for (size_t i = 0; i < gpus.size(); ++i) devices += (i ? "," : "") + GpuName(gpus[i]);
  const std::pair<const char*, std::string> ours[] = {{"FLOW_RUN_ID", std::to_string(run_)},
                                                      {"FLOW_STAGE", it.name},
                                                      {"FLOW_ATTEMPT", std::to_string(it.attempt)},
                                                      {"CUDA_VISIBLE_DEVICES", devices}};
  auto lines = [&](const std::map<std::string, std::string>& from) {
    auto out = std::make_shared<std::vector<std::string>>();
    out->reserve(from.size());
    for (const auto& [k, v] : from) {
      bool replaced = false;
      for (const auto& [ok, ov] : ours) replaced = replaced || k == ok;
      if (!replaced) out->push_back(k + "=" + v);
    }
    return out;
  };
  // Without an env block every attempt shares one copy of flow's own.
  if (!stage.env.empty())
    spec.base_env = lines(use);
  else {
    if (!base_env_lines_) base_env_lines_ = lines(base_env_);
    spec.base_env = base_env_lines_;
  }
  spec.env.reserve(4);
  for (const auto& [k, v] : ours) spec.env.push_back(std::string(k) + "=" + v);

  it.started_at = WallNow();
  auto sub = exec_.Submit(spec);
  if (auto* msg = std::get_if<std::string>(&sub)) return AttemptFailed(id, *msg, nullptr);
  it.job = std::get<uint64_t>(sub);
  by_job_[it.job] = id;
  it.st = St::Running;
  Record(id);  // status running, started_at, the attempt number; the attempt's row comes when it ends
  if (progress_) progress_->Started(it.name, it.attempt);
}

bool Engine::TmpRootFor(int32_t stage, const std::string& stage_folder, std::string& error) {
  if (tmp_roots_.empty()) {
    if (!MakeDirs(Abs(".flow/tmp"), error)) return false;
    tmp_roots_.push_back({".flow/tmp", {}, 0});
    tmp_abs_ = Abs(".flow/tmp");
  }
  struct stat a, b;
  size_t root = 0;
  if (stat(tmp_abs_.c_str(), &a) == 0 && stat(Abs(stage_folder).c_str(), &b) == 0 && a.st_dev != b.st_dev) {
    std::string path = stage_folder + "/.tmp-slots";
    if (::mkdir(Abs(path).c_str(), 0755) != 0 && errno != EEXIST) {
      error = "cannot create " + Abs(path) + ": " + std::strerror(errno);
      return false;
    }
    root = tmp_roots_.size();
    tmp_roots_.push_back({path, {}, 0});
  }
  stage_tmp_root_[stage] = root;
  return true;
}

bool Engine::TakeTmpSlot(uint32_t id, std::string& error) {
  Item& it = items_[id];
  TmpRoot& root = tmp_roots_[stage_tmp_root_.at(InstanceOf(it).stage)];
  if (it.tmp_slot < 0) {
    if (!root.free.empty()) {
      it.tmp_slot = root.free.back();
      root.free.pop_back();
    } else {
      // A fresh folder: one left from before (the cleanup at the start
      // could not remove it) is passed over, never reused with its files.
      for (;;) {
        int n = root.made++;
        std::string folder = Abs(fmt::format("{}/{}", root.path, n));
        if (::mkdir(folder.c_str(), 0755) == 0) {
          it.tmp_slot = n;
          break;
        }
        if (errno != EEXIST || root.made > 100000) {
          error = "cannot create " + folder + ": " + std::strerror(errno);
          return false;
        }
      }
    }
  }
  it.tmp = fmt::format("{}/{}/{}", root.path, it.tmp_slot, it.dir.substr(it.dir.rfind('/') + 1));
  return true;
}

// After an attempt: its slot is free again when its outputs were committed
// (they were moved out); after a failure it keeps what the command left.
void Engine::ReleaseTmpSlot(uint32_t id, bool reuse) {
  Item& it = items_[id];
  if (it.tmp_slot < 0) return;
  if (reuse) tmp_roots_[stage_tmp_root_.at(InstanceOf(it).stage)].free.push_back(it.tmp_slot);
  it.tmp_slot = -1;
}

// The files and folders named inside a value output (a `list<file>`, a
// record with a `dir` field, ...): each must exist, and one inside one of
// this attempt's own outputs (under .flow/tmp, the only paths its command
// knows) moves with that output at commit, so it gets its final name here,
// in the form the command wrote it (relative to the project folder, or
// absolute). Paths are compared by their real folders, so that a command
// that names them through another spelling (its real working folder when
// the project's path has a link in it, `realpath`) is understood too. A path
// in the attempt's temporary folder but in none of its outputs would not
// survive the commit: an error.
bool Engine::CommitPathsIn(uint32_t id, const plan::Field& output, json::Value& value, std::string& error) {
  const Item& it = items_[id];
  const plan::Stage& stage = plan_.StageOf(InstanceOf(it));
  // The real folder of `abs`, then its last name (itself not resolved: a
  // link inside an output is part of the output).
  auto real = [](const std::string& abs) {
    llvm::SmallString<256> parent(llvm::sys::path::parent_path(abs)), out;
    if (llvm::sys::fs::real_path(parent, out)) return abs;
    llvm::sys::path::append(out, llvm::sys::path::filename(abs));
    return std::string(out);
  };
  auto within = [](const std::string& path, const std::string& root) {
    return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/');
  };
  const std::string attempt_prefix = real(Abs(it.tmp + "."));  // .../SLOT/INSTANCE.KEY.
  // Each output's real temporary path, made once (a list may name many files).
  std::vector<std::string> outputs_real;
  outputs_real.reserve(stage.outputs.size());
  for (const auto& f : stage.outputs) outputs_real.push_back(real(Abs(it.tmp + "." + f.name)));
  RewritePaths(plan_, output.type, value, [&](std::string& path, bool dir) {
    if (!error.empty()) return;
    llvm::SmallString<256> norm(path);
    llvm::sys::path::remove_dots(norm, /*remove_dot_dot=*/true);
    std::string p(norm.str());
    if (p.empty() && !path.empty()) p = ".";  // "." and "a/.." name the project folder
    struct stat st;
    if (p.find('\0') != std::string::npos) {
      error = fmt::format("output '{}': it names a path that holds a NUL character (\\u0000), which no file name can",
                          output.name);
      return;
    }
    if (p.empty() || stat(Abs(p).c_str(), &st) != 0) {
      error = fmt::format("output '{}': it names {} {}, which does not exist", output.name,
                          dir ? "the folder" : "the file", path.empty() ? "\"\"" : path);
      return;
    }
    if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
      error = fmt::format("output '{}': it names {} as {}, but that is {}", output.name, path, dir ? "a folder" : "a file",
                          KindOf(st.st_mode));
      return;
    }
    std::string pr = real(Abs(p));
    if (pr.compare(0, attempt_prefix.size(), attempt_prefix) != 0) return;  // not this attempt's: kept as written
    for (size_t o = 0; o < stage.outputs.size(); ++o) {
      const std::string& out_real = outputs_real[o];
      if (!within(pr, out_real)) continue;
      std::string final_path = it.dir + "." + stage.outputs[o].name;
      path = (llvm::sys::path::is_absolute(path) ? Abs(final_path) : final_path) + pr.substr(out_real.size());
      return;
    }
    error = fmt::format("output '{}': it names {}, which is in this attempt's temporary folder but in none of its "
                        "outputs, so it would be gone after the commit; write it inside an output",
                        output.name, path);
  });
  return error.empty();
}

// The value of output `f` (of a type other than file and dir) from the
// JSON in `path`, checked against its type.
bool Engine::ReadValueOutput(const plan::Field& f, const std::string& path, json::Value& value, std::string& error) {
  // Opened without waiting (a named pipe would wait for a writer for ever),
  // and read only when it is a regular file.
  int fd = ::open(Abs(path).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    error = fmt::format("output '{}': cannot read {}: {}", f.name, path, std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    error = fmt::format("output '{}': expected {} (as JSON in a file), found {}", f.name, f.type.Spell(),
                        KindOf(st.st_mode));
    return false;
  }
  auto buf = llvm::MemoryBuffer::getOpenFile(fd, Abs(path), st.st_size, /*RequiresNullTerminator=*/false);
  ::close(fd);
  if (!buf) {
    error = fmt::format("output '{}': cannot read {}: {}", f.name, path, buf.getError().message());
    return false;
  }
  llvm::StringRef text = (*buf)->getBuffer().trim();
  auto parsed = plan::ParseJson(text, plan::kMaxValueJsonDepth);
  if (!parsed) {
    std::string why = llvm::toString(parsed.takeError());
    error = fmt::format("output '{}': expected {}, found text that is not JSON: {} ({})", f.name, f.type.Spell(),
                        text.size() > 40 ? text.substr(0, 37).str() + "..." : text.str(), why);
    return false;
  }
  std::string type_error;
  value = std::move(*parsed);
  json::Value shown = value;
  if (!CheckValue(plan_, f.type, value, type_error)) {
    error = fmt::format("output '{}': expected {}, found {}", f.name, f.type.Spell(), Brief(shown));
    if (type_error.find("expected " + f.type.Spell() + ",") != 0) error += " (" + type_error + ")";
    return false;
  }
  return true;
}

bool Engine::CommitOutputs(uint32_t id, std::string& error) {
  Item& it = items_[id];
  const plan::Stage& stage = plan_.StageOf(InstanceOf(it));
  Fields outputs;
  for (const auto& f : stage.outputs) {
    std::string tmp = it.tmp + "." + f.name;
    std::string final_path = it.dir + "." + f.name;
    struct stat st;
    bool exists = stat(Abs(tmp).c_str(), &st) == 0;
    if (f.type.kind == Type::File || f.type.kind == Type::Dir) {
      bool dir = f.type.kind == Type::Dir;
      if (!exists) {
        error = fmt::format("output '{}': expected {}, found nothing at {}", f.name, dir ? "a folder" : "a file", tmp);
        return false;
      }
      if (dir != S_ISDIR(st.st_mode) || (!dir && !S_ISREG(st.st_mode))) {
        error = fmt::format("output '{}': expected {}, found {}", f.name, dir ? "a folder" : "a file", KindOf(st.st_mode));
        return false;
      }
      outputs[f.name] = final_path;
      continue;
    }
    if (!exists) {
      error = fmt::format("output '{}': expected {} (as JSON in {}), found nothing", f.name, f.type.Spell(), tmp);
      return false;
    }
    json::Value v = nullptr;
    if (!ReadValueOutput(f, tmp, v, error) || !CommitPathsIn(id, f, v, error)) return false;
    outputs[f.name] = std::move(v);
  }
  // Commit: each output is renamed to its final name (rename(2) replaces
  // a stale file of a run that crashed before recording it; a stale folder
  // is moved away first). Only then is the result recorded, so a final name
  // never holds half an output. With more than one output, the final names
  // of an earlier commit of the same key are removed first: cut short
  // between two renames, the commit leaves some of its outputs missing,
  // never beside another attempt's (which a cache row not yet dropped, or
  // RecoverCommitted, would take for one result).
  if (stage.outputs.size() > 1)
    for (const auto& f : stage.outputs) {
      std::string final_abs = Abs(it.dir + "." + f.name);
      if (::unlink(final_abs.c_str()) == 0 || errno == ENOENT) continue;
      if (errno == EISDIR || errno == EPERM) RemoveTree(final_abs);  // a folder (EPERM: Linux says so for one)
    }
  for (const auto& f : stage.outputs) {
    std::string tmp = Abs(it.tmp + "." + f.name);
    std::string final_abs = Abs(it.dir + "." + f.name);
    if (::rename(tmp.c_str(), final_abs.c_str()) == 0) continue;
    if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST || errno == ENOTDIR) {
      std::string old = final_abs + ".old-" + std::to_string(run_);
      RemoveTree(old);
      if (::rename(final_abs.c_str(), old.c_str()) == 0 && ::rename(tmp.c_str(), final_abs.c_str()) == 0) {
        RemoveTree(old);
        continue;
      }
    }
    error = fmt::format("output '{}': cannot commit it to {}: {}", f.name, it.dir + "." + f.name, std::strerror(errno));
    return false;
  }
  it.outputs = std::move(outputs);
  it.outputs_text = ToText(it.outputs);
  if (stage.cache) RecordCache(id);
  return true;
}

// Its committed result, for later runs to reuse.
void Engine::RecordCache(uint32_t id) {
  const Item& it = items_[id];
  CacheRow row;
  row.key = it.key;
  row.instance = it.name;
  row.stage = plan_.StageOf(InstanceOf(it)).name;
  row.run_id = run_;
  row.out_dir = it.dir;
  row.outputs = it.outputs_text;
  row.key_parts = it.key_parts;
  store_.PutCache(std::move(row));
}

// The run-store row of the attempt that just ended; `c` is null when it
// failed before its process started.
AttemptRow Engine::AttemptOf(uint32_t id, const Completion* c, const char* status) const {
  const Item& it = items_[id];
  AttemptRow a;
  a.instance = it.name;
  a.stage = plan_.StageOf(InstanceOf(it)).name;
  a.attempt = std::max(1, it.attempt);
  a.status = status;
  a.started_at = c ? c->started_at : it.started_at > 0 ? it.started_at : WallNow();
  a.ended_at = c ? c->ended_at : WallNow();
  if (c) {
    if (c->kind == Completion::Exited || c->kind == Completion::LaunchFailed) a.exit_code = c->exit_code;
    if (c->signal) a.signal = c->signal;
    a.wall_s = c->usage.wall_s;
    a.user_s = c->usage.user_s;
    a.sys_s = c->usage.sys_s;
    a.max_rss_bytes = c->usage.max_rss_bytes;
    a.max_rss_exact = c->usage.max_rss_exact;
  }
  a.stdout_path = it.stdout_path;
  a.stderr_path = it.stderr_path;
  a.command = it.command;
  return a;
}

void Engine::AttemptFailed(uint32_t id, const std::string& error, const Completion* c) {
  Item& it = items_[id];
  ReleaseTmpSlot(id, false);
  const plan::Instance& inst = InstanceOf(it);
  const plan::Stage& stage = plan_.StageOf(inst);
  AttemptRow a = AttemptOf(id, c,
                           c && c->kind == Completion::TimedOut    ? "timed_out"
                           : c && c->kind == Completion::Cancelled ? "cancelled"
                                                                   : "failed");
  a.error = error;
  store_.AddAttempt(run_, a);
  if (c && c->kind == Completion::Cancelled) {
    it.st = St::Cancelled;
    it.reason = "cancelled while running";
    it.ended_at = a.ended_at;
    if (progress_) progress_->Line("cancelled", it.name, "");
    Event(id, "cancelled", "");
    return Finish(id, false);
  }
  if (it.attempt <= stage.retry && !stopping_ && !cancelled_) {
    int64_t delay = opt_.retry_backoff_ms << std::min(it.attempt - 1, 16);
    delay = std::min<int64_t>(delay, 60000);
    it.st = St::Retrying;
    it.retry_at = Now() + delay / 1000.0;
    retries_.emplace(it.retry_at, id);
    std::string what = fmt::format("{} (attempt {} of {}; retrying in {})", error, it.attempt, stage.retry + 1,
                                   delay >= 1000 ? fmt::format("{:.3g} s", delay / 1000.0) : fmt::format("{} ms", delay));
    if (progress_) progress_->Line("retry", it.name, what);
    Event(id, "retrying", what);
    Record(id);
    return;
  }
  it.ended_at = a.ended_at;
  std::string msg = error;
  if (it.attempt > 1) msg += fmt::format(" (attempt {} of {})", it.attempt, stage.retry + 1);
  Fail(id, msg);
}

void Engine::OnCompletion(const Completion& c) {
  auto found = by_job_.find(c.job);
  if (found == by_job_.end()) return;
  uint32_t id = found->second;
  by_job_.erase(found);
  sched_.Finished(id);
  Item& it = items_[id];
  const plan::Stage& stage = plan_.StageOf(InstanceOf(it));
  std::string error;
  switch (c.kind) {
    case Completion::Exited:
      if (c.exit_code != 0) error = fmt::format("exit code {}", c.exit_code);
      break;
    case Completion::Signaled: error = fmt::format("killed by signal {} ({})", c.signal, strsignal(c.signal)); break;
    case Completion::TimedOut: {
      int64_t ms = stage.timeout_ms.value_or(0);
      error = fmt::format("timed out after {}", plan::FormatValue(json::Value(ms), Type::Scalar(Type::Duration)));
      break;
    }
    case Completion::Cancelled: error = "cancelled"; break;
    case Completion::LaunchFailed: error = c.error; break;
  }
  if (error.empty() && !CommitOutputs(id, error)) {
    // error says what is wrong with the outputs
  }
  ReleaseTmpSlot(id, error.empty());
  if (!error.empty()) return AttemptFailed(id, error, &c);
  store_.AddAttempt(run_, AttemptOf(id, &c, "succeeded"));
  it.st = St::Succeeded;
  it.ended_at = c.ended_at;
  if (progress_) progress_->Line("done", it.name, fmt::format("{:.2f} s", c.usage.wall_s));
  Finish(id, true);
}


}  // namespace flow::rt::engine_detail
