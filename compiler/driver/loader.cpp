// SPDX-License-Identifier: Apache-2.0
// Finds, reads and parses the entry file and its imports (relative paths and
// `std.*` modules), once each, and reports missing files and import cycles.
#include <pthread.h>

#include <cstdlib>
#include <functional>

#include "driver/frontend.h"
#include "embedded_stdlib.h"
#include "fmt/format.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "syntax/parse.h"

namespace flow::driver {

namespace {
constexpr const char* kEmbeddedPrefix = "<builtin>/";

std::string ModuleRelPath(const std::string& dotted) {
  std::string rel = dotted;
  for (char& c : rel)
    if (c == '.') c = '/';
  return rel + ".flow";
}

struct Edge {
  int to;
  SourceRange site;
};

class Loader {
 public:
  Loader(SourceManager& sm, DiagSink& sink, const LoadOptions& options) : sm_(sm), sink_(sink), options_(options) {}

  LoadedModules Run(FileId entry, const std::string& canonical) {
    LoadedModules out;
    out.entry_loaded = true;
    AddModule(entry, canonical, sm_.Path(entry));
    // Breadth-first over imports; each file parsed once.
    for (size_t i = 0; i < modules_.size(); ++i) {
      std::vector<ast::Import> imports = modules_[i].imports;  // copy: modules_ may grow
      std::string dir = llvm::sys::path::parent_path(paths_[i]).str();
      std::string shown_dir = llvm::sys::path::parent_path(shown_[i]).str();
      for (const auto& imp : imports) {
        int target = Resolve(imp, dir, shown_dir);
        if (target >= 0) edges_[i].push_back({target, imp.range});
      }
    }
    ReportCycles();
    out.modules = std::move(modules_);
    return out;
  }

 private:
  int AddModule(FileId file, const std::string& canonical, const std::string& shown) {
    int idx = static_cast<int>(modules_.size());
    by_path_[canonical] = idx;
    paths_.push_back(canonical);
    shown_.push_back(shown);
    edges_.emplace_back();
    modules_.push_back(syntax::ParseFile(sm_, file, sink_));
    return idx;
  }

  // `shown` is the path diagnostics print: as the user would write it.
  int LoadFile(const std::string& path, const std::string& shown) {
    llvm::SmallString<256> real;
    if (llvm::sys::fs::real_path(path, real)) return -1;
    std::string canonical = real.str().str();
    if (auto it = by_path_.find(canonical); it != by_path_.end()) return it->second;
    if (llvm::sys::fs::is_directory(canonical)) return -1;
    std::string error;
    auto file = sm_.Load(canonical, &error, shown);
    if (!file) return -1;
    return AddModule(*file, canonical, shown);
  }

  int Resolve(const ast::Import& imp, const std::string& dir, const std::string& shown_dir) {
    if (!imp.is_module) {
      llvm::SmallString<256> path(imp.target);
      llvm::SmallString<256> shown(imp.target);
      if (!llvm::sys::path::is_absolute(path)) {
        path = dir;
        llvm::sys::path::append(path, imp.target);
        shown = shown_dir;
        llvm::sys::path::append(shown, imp.target);
        llvm::sys::path::remove_dots(shown, /*remove_dot_dot=*/true);
      }
      int idx = LoadFile(path.str().str(), shown.str().str());
      if (idx < 0) {
        auto& d = sink_.Emit(DiagKind::ImportNotFound, imp.range, fmt::format("cannot find imported file '{}'", imp.target));
        d.notes.push_back({{}, fmt::format("looked for {}", path.str().str())});
        d.fix_hint = "imports with quotes are relative to the importing file";
      }
      return idx;
    }
    std::string rel = ModuleRelPath(imp.target);
    std::vector<std::string> looked;
    for (const auto& root : options_.search_paths) {
      llvm::SmallString<256> path(root);
      llvm::sys::path::append(path, rel);
      looked.push_back(path.str().str());
      if (llvm::sys::fs::exists(path)) {
        int idx = LoadFile(path.str().str(), path.str().str());
        if (idx >= 0) return idx;
      }
    }
    if (options_.use_embedded_stdlib) {
      for (const auto& m : EmbeddedStdlib())
        if (m.path == rel) {
          std::string key = kEmbeddedPrefix + rel;
          if (auto it = by_path_.find(key); it != by_path_.end()) return it->second;
          FileId file = sm_.AddBuffer(key, std::string(m.text));
          return AddModule(file, key, key);
        }
    }
    auto& d = sink_.Emit(DiagKind::ImportNotFound, imp.range, fmt::format("cannot find module '{}'", imp.target));
    std::string where;
    for (const auto& l : looked) where += (where.empty() ? "" : ", ") + l;
    if (!where.empty()) d.notes.push_back({{}, "looked for " + where});
    std::vector<std::string> known;
    for (const auto& m : EmbeddedStdlib()) {
      std::string name(m.path.substr(0, m.path.size() - 5));
      for (char& c : name)
        if (c == '/') c = '.';
      known.push_back(name);
    }
    if (llvm::StringRef(imp.target).startswith("std.")) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      d.fix_hint = "the standard library has: " + list;
    } else {
      d.fix_hint = "module imports are searched in $FLOW_PATH; to import a file next to this one, write import \"" + rel + "\"";
    }
    return -1;
  }

  // Iterative DFS over the import graph; every back edge closes a cycle.
  void ReportCycles() {
    size_t n = modules_.size();
    std::vector<int> color(n, 0);
    struct Frame {
      int node;
      size_t next;
    };
    for (size_t root = 0; root < n; ++root) {
      if (color[root]) continue;
      std::vector<Frame> stack{{static_cast<int>(root), 0}};
      color[root] = 1;
      while (!stack.empty()) {
        Frame& f = stack.back();
        if (f.next == edges_[f.node].size()) {
          color[f.node] = 2;
          stack.pop_back();
          continue;
        }
        Edge e = edges_[f.node][f.next++];
        if (color[e.to] == 1) {
          std::string chain;
          bool in = false;
          for (const Frame& fr : stack) {
            if (fr.node == e.to) in = true;
            if (in) chain += llvm::sys::path::filename(shown_[fr.node]).str() + " -> ";
          }
          chain += llvm::sys::path::filename(shown_[e.to]).str();
          if (e.to == f.node) {
            auto& d = sink_.Emit(DiagKind::ImportCycle, e.site,
                                 fmt::format("'{}' imports itself", llvm::sys::path::filename(shown_[e.to]).str()));
            d.fix_hint = "remove this import";
          } else {
            auto& d = sink_.Emit(DiagKind::ImportCycle, e.site, "import cycle: " + chain);
            d.fix_hint = "move what both files need into a third file that imports neither";
          }
        } else if (color[e.to] == 0) {
          color[e.to] = 1;
          stack.push_back({e.to, 0});
        }
      }
    }
  }

  SourceManager& sm_;
  DiagSink& sink_;
  const LoadOptions& options_;
  std::vector<ast::Module> modules_;
  std::vector<std::string> paths_;  // canonical: the identity of a file
  std::vector<std::string> shown_;  // as diagnostics print it
  std::vector<std::vector<Edge>> edges_;
  llvm::StringMap<int> by_path_;
};

}  // namespace

LoadOptions DefaultLoadOptions(const char* argv0) {
  LoadOptions options;
  if (const char* env = std::getenv("FLOW_PATH")) {
    llvm::SmallVector<llvm::StringRef, 4> parts;
    llvm::StringRef(env).split(parts, ':', -1, false);
    for (auto p : parts) options.search_paths.push_back(p.str());
  }
  static int anchor;
  std::string exe = llvm::sys::fs::getMainExecutable(argv0, &anchor);
  if (!exe.empty()) {
    llvm::SmallString<256> prefix(llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
    llvm::sys::path::append(prefix, "share", "flow", "stdlib");
    options.search_paths.push_back(prefix.str().str());
  }
  return options;
}

LoadedModules LoadModules(SourceManager& sm, const std::string& entry_path, DiagSink& sink,
                          const LoadOptions& options) {
  std::string error;
  llvm::SmallString<256> real;
  std::error_code ec = llvm::sys::fs::real_path(entry_path, real);
  if (!ec && llvm::sys::fs::is_directory(real)) ec = std::make_error_code(std::errc::is_a_directory);
  std::optional<FileId> file;
  if (!ec) file = sm.Load(real.str().str(), &error, entry_path);
  if (!file) {
    sink.Emit(DiagKind::FileNotFound, {}, fmt::format("cannot read '{}': {}", entry_path, ec ? ec.message() : error));
    return {};
  }
  return Loader(sm, sink, options).Run(*file, real.str().str());
}

LoadedModules LoadModules(SourceManager& sm, FileId entry, DiagSink& sink, const LoadOptions& options) {
  return Loader(sm, sink, options).Run(entry, sm.Path(entry));
}

void RunWithLargeStack(const std::function<void()>& fn) {
  constexpr size_t kStack = size_t{1} << 30;  // reserved, not committed
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStack);
  pthread_t thread;
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  if (pthread_create(&thread, &attr, trampoline, const_cast<std::function<void()>*>(&fn)) != 0) {
    pthread_attr_destroy(&attr);
    fn();  // could not make a thread: run here
    return;
  }
  pthread_attr_destroy(&attr);
  pthread_join(thread, nullptr);
}

}  // namespace flow::driver
