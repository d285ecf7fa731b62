// SPDX-License-Identifier: Apache-2.0
#include "engine/values.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <vector>

#include "fmt/format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/xxhash.h"
#include "plan/json_parse.h"
#include "plan/json_text.h"
#include "store/run_store.h"

namespace flow::rt {

namespace json = llvm::json;
using plan::Type;


namespace {
// Calls fn(value, dir) on every file or dir value inside `value`; V is
// json::Value or const json::Value.
template <typename V, typename Fn>
void VisitPaths(const plan::Plan& plan, const Type& type, V& value, const Fn& fn) {
  switch (type.kind) {
    case Type::File:
    case Type::Dir:
      if (value.getAsString()) fn(value, type.kind == Type::Dir);
      return;
    case Type::Optional:
      if (!value.getAsNull()) VisitPaths(plan, type.elem[0], value, fn);
      return;
    case Type::List:
      if (auto* arr = value.getAsArray())
        for (auto& e : *arr) VisitPaths(plan, type.elem[0], e, fn);
      return;
    case Type::Record:
      if (auto* obj = value.getAsObject())
        for (const auto& r : plan.records)
          if (r.name == type.record)
            for (const auto& f : r.fields)
              if (auto* v = obj->get(f.name)) VisitPaths(plan, f.type, *v, fn);
      return;
    default:
      return;
  }
}
}  // namespace

void ForEachPath(const plan::Plan& plan, const Type& type, const json::Value& value,
                 const std::function<void(const std::string&, bool)>& fn) {
  VisitPaths(plan, type, value, [&](const json::Value& v, bool dir) { fn(v.getAsString()->str(), dir); });
}

void RewritePaths(const plan::Plan& plan, const Type& type, json::Value& value,
                  const std::function<void(std::string&, bool)>& fn) {
  VisitPaths(plan, type, value, [&](json::Value& v, bool dir) {
    std::string path = v.getAsString()->str();
    fn(path, dir);
    v = std::move(path);
  });
}

namespace {
// JSON with numbers in their shortest form (0.1, not 0.10000000000000001).
void Short(const json::Value& v, std::string& out) {
  switch (v.kind()) {
    case json::Value::Number:
      if (auto i = v.getAsInteger())
        out += std::to_string(*i);
      else
        out += fmt::format("{}", *v.getAsNumber());
      return;
    case json::Value::Array: {
      out += "[";
      bool first = true;
      for (const auto& e : *v.getAsArray()) {
        out += first ? "" : ",";
        first = false;
        Short(e, out);
      }
      out += "]";
      return;
    }
    case json::Value::Object: {
      const json::Object& o = *v.getAsObject();
      std::vector<std::string> keys;
      for (const auto& kv : o) keys.push_back(kv.first.str());
      std::sort(keys.begin(), keys.end());
      out += "{";
      for (size_t k = 0; k < keys.size(); ++k) {
        out += k ? "," : "";
        plan::AppendJson(out, json::Value(keys[k]));
        out += ":";
        Short(*o.get(keys[k]), out);
      }
      out += "}";
      return;
    }
    default:
      plan::AppendJson(out, v);
  }
}
}  // namespace

std::string Brief(const json::Value& value) {
  std::string s;
  Short(value, s);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

namespace {

uint64_t Mix(uint64_t h, uint64_t v) { return llvm::xxHash64(llvm::StringRef(reinterpret_cast<const char*>(&v), 8)) ^ (h * 0x9E3779B97F4A7C15ull); }

// A path for a message: one of thousands of nested folders would make a
// message of tens of kilobytes.
std::string Elide(const std::string& path) {
  if (path.size() <= 240) return path;
  return fmt::format("{}...({} bytes)...{}", path.substr(0, 100), path.size() - 200, path.substr(path.size() - 100));
}

// Reads a regular file. Opened without blocking and checked after the
// open, so that a file replaced by a named pipe since the caller's stat can
// never block flow (opening a pipe waits for a writer; reading one would
// take what the command should read).
std::optional<uint64_t> HashFileContent(const std::string& path, const std::string& shown, std::string& error) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot read " + Elide(shown) + ": " + std::strerror(errno);
    return std::nullopt;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    error = "cannot read " + Elide(shown) + ": it is no longer a regular file";
    return std::nullopt;
  }
  auto buf = llvm::MemoryBuffer::getOpenFile(fd, path, st.st_size, /*RequiresNullTerminator=*/false);
  close(fd);
  if (!buf) {
    error = "cannot read " + Elide(shown) + ": " + buf.getError().message();
    return std::nullopt;
  }
  return llvm::xxHash64((*buf)->getBuffer());
}


// `full` is `path` resolved; `top`: the path a value names (links followed,
// only a regular file or a folder accepted), else an entry of a folder.
std::optional<uint64_t> HashEntry(RunStore* store, const std::string& full, const std::string& path, bool top,
                                  std::string& error, PathKind kind = PathKind::Any) {
  struct stat st;
  if ((top ? stat(full.c_str(), &st) : lstat(full.c_str(), &st)) != 0) {
    error = "cannot read " + Elide(path) + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (kind == PathKind::File && S_ISDIR(st.st_mode)) {
    error = "expected a file, found the folder " + Elide(path);
    return std::nullopt;
  }
  if (kind == PathKind::Dir && !S_ISDIR(st.st_mode)) {
    error = "expected a folder, found " + std::string(S_ISREG(st.st_mode) ? "the file " : "") + Elide(path) +
            (S_ISREG(st.st_mode) ? "" : std::string(", which is ") + KindOf(st.st_mode));
    return std::nullopt;
  }
  if (S_ISDIR(st.st_mode)) {
    DIR* d = opendir(full.c_str());
    if (!d) {
      error = "cannot read folder " + Elide(path) + ": " + std::strerror(errno);
      return std::nullopt;
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    uint64_t h = 0x64697220ull;  // "dir "
    for (const auto& n : names) {
      auto sub = HashEntry(store, full + "/" + n, path + "/" + n, false, error);
      if (!sub) return std::nullopt;
      h = Mix(Mix(h, llvm::xxHash64(n)), *sub);
    }
    return h;
  }
  // Inside a folder a link is data: its target's text, whether or not it
  // leads anywhere (a dangling or looping link is no reason to fail).
  if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 0) + 256, '\0');
    ssize_t n = readlink(full.c_str(), target.data(), target.size());
    if (n < 0) {
      error = "cannot read the link " + Elide(path) + ": " + std::strerror(errno);
      return std::nullopt;
    }
    target.resize(static_cast<size_t>(n));
    return Mix(0x6c696e6bull, llvm::xxHash64(target));  // "link"
  }
  if (!S_ISREG(st.st_mode)) {
    if (top) {
      error = fmt::format("{} is {}: an input file must be a regular file or a folder (flow reads it to "
                          "compute the cache key, and reading a pipe would take what the command should read)",
                          Elide(path), KindOf(st.st_mode));
      return std::nullopt;
    }
    // Never opened: a pipe would block or be drained, a device never ends.
    return Mix(0x73706563ull, static_cast<uint64_t>(st.st_mode & S_IFMT) ^ (static_cast<uint64_t>(st.st_rdev) << 20));
  }
  // An empty file has nothing to read (markers, `touch`ed flags): its
  // hash is that of no bytes, as of the stat above, once an open shows it
  // readable, as for a file with content. (An open, not faccessat: some
  // container sandboxes refuse faccessat2, which glibc tries first.) Nor
  // is it remembered in the run store: the open is cheaper than a row of
  // file_hashes (written, then looked up by the next run). A row from when
  // it had content goes (ForgetFileHash).
  if (st.st_size == 0) {
    int fd = open(full.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      error = "cannot read " + Elide(path) + ": " + std::strerror(errno);
      return std::nullopt;
    }
    close(fd);
    if (store) store->ForgetFileHash(full);
    return llvm::xxHash64(llvm::StringRef());
  }
  int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (store)
    if (auto known = store->FindFileHash(full))
      if (known->size == st.st_size && known->mtime_ns == mtime_ns && known->inode == static_cast<int64_t>(st.st_ino))
        return known->hash;
  std::optional<uint64_t> h = HashFileContent(full, path, error);
  if (!h) return std::nullopt;
  if (store) store->PutFileHash(full, {st.st_size, mtime_ns, static_cast<int64_t>(st.st_ino), *h});
  return h;
}

}  // namespace

std::optional<uint64_t> HashPath(RunStore* store, const std::string& root, const std::string& path,
                                 std::string& error, PathKind kind) {
  if (path.find('\0') != std::string::npos) {  // the system would read the name up to it: another file
    error = "a path that holds a NUL character (\\u0000), which no file name can";
    return std::nullopt;
  }
  std::string full = !path.empty() && path[0] == '/' ? path : root + "/" + path;
  return HashEntry(store, full, path, /*top=*/true, error, kind);
}

std::vector<std::string> ExplainKeyChange(const std::string& before, const std::string& after) {
  std::vector<std::string> out;
  auto a = plan::ParseJson(before, plan::kMaxJsonDepth), b = plan::ParseJson(after, plan::kMaxJsonDepth);
  if (!a || !b || !a->getAsObject() || !b->getAsObject()) {
    if (!a) llvm::consumeError(a.takeError());
    if (!b) llvm::consumeError(b.takeError());
    out.push_back("the earlier run recorded no key parts to compare with");
    return out;
  }
  const json::Object& x = *a->getAsObject();
  const json::Object& y = *b->getAsObject();
  auto str = [](const json::Object& o, const char* k) { return o.getString(k).getValueOr("").str(); };
  if (str(x, "definition") != str(y, "definition")) {
    if (str(x, "command") != str(y, "command"))
      out.push_back(fmt::format("the stage's command changed: \"{}\" -> \"{}\"", str(x, "command"), str(y, "command")));
    else
      out.push_back("the stage's definition changed (its command's expressions, env, inputs or outputs)");
  }
  auto text = [](const json::Value* v) { return v ? Brief(*v) : std::string("(none)"); };
  const json::Object* xi = x.getObject("inputs");
  const json::Object* yi = y.getObject("inputs");
  std::map<std::string, std::pair<const json::Value*, const json::Value*>> inputs;
  if (xi)
    for (const auto& kv : *xi) inputs[kv.first.str()].first = &kv.second;
  if (yi)
    for (const auto& kv : *yi) inputs[kv.first.str()].second = &kv.second;
  for (const auto& [name, pair] : inputs) {
    if (pair.first && pair.second && *pair.first == *pair.second) continue;
    out.push_back(fmt::format("input '{}' changed: {} -> {}", name, text(pair.first), text(pair.second)));
  }
  const json::Object* xf = x.getObject("files");
  const json::Object* yf = y.getObject("files");
  std::map<std::string, std::pair<std::string, std::string>> files;
  if (xf)
    for (const auto& kv : *xf) files[kv.first.str()].first = kv.second.getAsString().getValueOr("").str();
  if (yf)
    for (const auto& kv : *yf) files[kv.first.str()].second = kv.second.getAsString().getValueOr("").str();
  for (const auto& [path, h] : files) {
    if (h.first == h.second) continue;
    if (h.first.empty())
      out.push_back(fmt::format("file {} is a new input", path));
    else if (h.second.empty())
      out.push_back(fmt::format("file {} is no longer an input", path));
    else
      out.push_back(fmt::format("file {} changed content", path));
  }
  if (x.get("run") || y.get("run")) out.push_back("the stage has `cache false`: it runs every time");
  return out;
}

const char* KindOf(mode_t mode) {
  if (S_ISREG(mode)) return "a file";
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISLNK(mode)) return "a link";
  if (S_ISFIFO(mode)) return "a named pipe";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "neither a file nor a folder";
}

}  // namespace flow::rt
