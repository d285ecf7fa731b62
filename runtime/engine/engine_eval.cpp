// SPDX-License-Identifier: Apache-2.0
// The engine: evaluating an instance's values in its copy's environment,
// cache keys and lookups, and the words of its command and env templates.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "engine/engine_impl.h"
#include "engine/values.h"
#include "exec/signals.h"
#include "fmt/format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/xxhash.h"
#include "plan/json_parse.h"
#include "plan/json_text.h"
#include "store/run_store.h"

namespace flow::rt::engine_detail {

// ------------------------------------------------------------------ cache keys

void ExprText(const plan::Plan& plan, ExprId id, std::string& out, int depth) {
  const ExprNode& n = plan.Get(id);
  out += plan::Spelling(n.op);
  if (!n.name.empty()) out += ":" + n.name;
  if (n.op == Op::Lit) out += "=" + ToText(n.lit);
  out += "(";
  if (depth < 64)
    for (ExprId a : n.args) {
      ExprText(plan, a, out, depth + 1);
      out += ",";
    }
  out += ")";
}

std::string TemplateText(const plan::Plan& plan, const std::vector<plan::TemplatePart>& parts, bool canonical) {
  std::string s;
  for (const auto& p : parts) {
    if (!p.expr.valid()) {
      s += p.text;
      continue;
    }
    if (canonical) {
      s += "{";
      ExprText(plan, p.expr, s);
      s += "}";
      continue;
    }
    const ExprNode& n = plan.Get(p.expr);
    s += "{" + (n.op == Op::Input || n.op == Op::OutPath ? n.name : std::string("...")) + "}";
  }
  return s;
}

bool IsHex16(const std::string& s, size_t at) {
  if (at + 16 > s.size()) return false;
  for (size_t i = at; i < at + 16; ++i)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;  // lowercase hex only
  return true;
}

// Output paths name their instance's key:
// `.flow/out/STAGE/INSTANCE.KEY.OUTPUT`. In cache keys they become
// `.flow/out/STAGE/INSTANCE.*.OUTPUT`: the file's
// content is keyed separately, so an upstream instance that reran and made
// the same content does not make this one rerun.
std::string NormalizeOutputPaths(const std::string& text) {
  static const std::string kOut = ".flow/out/";
  std::string out;
  out.reserve(text.size());
  size_t p = 0;
  for (;;) {
    size_t at = text.find(kOut, p);
    if (at == std::string::npos) break;
    size_t seg = at + kOut.size();
    size_t end = text.find_first_of("\"", seg);
    if (end == std::string::npos) end = text.size();
    // STAGE/INSTANCE.KEY.OUTPUT[/...]: output names have no dot, so the key
    // is the 16 hex digits before the last dot of the file's name.
    size_t slash = text.find('/', seg);
    size_t name_end = slash == std::string::npos ? end : std::min(end, text.find('/', slash + 1));
    size_t dot = slash == std::string::npos || slash >= end ? std::string::npos : text.rfind('.', name_end - 1);
    if (dot != std::string::npos && dot > slash + 17 && text[dot - 17] == '.' && IsHex16(text, dot - 16)) {
      out.append(text, p, dot - 16 - p);
      out += '*';
      p = dot;
    } else {
      out.append(text, p, seg - p);
      p = seg;
    }
  }
  out.append(text, p, std::string::npos);
  return out;
}


plan::EvalEnv Engine::EnvFor(int32_t copy, const Fields* inputs, const std::string* out_prefix) {
  plan::EvalEnv env;
  env.param = [this](const std::string& name) -> std::optional<json::Value> {
    for (const auto& p : plan_.params)
      if (p.name == name) return p.value;
    return std::nullopt;
  };
  env.output = [this, copy](const ExprNode& n) -> std::optional<json::Value> {
    if (n.op == Op::MapValues) {
      const Item& m = items_[top_maps_[n.map.value]];
      if (m.st == St::Skipped) return json::Value(nullptr);
      if (m.st != St::Done) return std::nullopt;
      json::Array out;
      for (int32_t c : m.copies) {
        plan::EvalResult r = plan::Evaluate(plan_, n.args[0], EnvFor(c));
        if (r.state != plan::EvalResult::Known) return std::nullopt;
        out.push_back(std::move(r.value));
      }
      return json::Value(std::move(out));
    }
    const Item& src = items_[NodeOf(n.instance, n.local, copy)];
    if (src.st == St::Skipped) return json::Value(nullptr);
    if (src.st != St::Succeeded && src.st != St::Cached) return std::nullopt;
    if (const json::Value* v = src.outputs.get(n.name)) return *v;
    return std::nullopt;
  };
  env.var = [this, copy](const std::string&) -> std::optional<json::Value> {
    if (copy < 0) return std::nullopt;
    return copies_[copy].element;
  };
  env.gate = [this, copy](plan::GateId g, bool local) -> std::optional<int> {
    const Item& gi = items_[GateOf(g, local, copy)];
    if (gi.st == St::Skipped) return -1;
    if (gi.st != St::Decided || gi.branch == -2) return std::nullopt;
    return gi.branch;
  };
  if (inputs)
    env.input = [inputs](const std::string& name) -> std::optional<json::Value> {
      if (const json::Value* v = inputs->get(name)) return *v;
      return std::nullopt;
    };
  if (out_prefix)
    env.out_path = [out_prefix](const std::string& name) -> std::optional<json::Value> {
      return *out_prefix + "." + name;
    };
  return env;
}

namespace {
// A set for the few elements an instance has (the files it reads): a
// vector scanned while short, a std::set once a list makes it long.
template <typename T>
class SeenSet {
 public:
  /// True when `x` was not in the set (it is now).
  bool Insert(const T& x) {
    if (small_.size() < kScan) {
      if (std::find(small_.begin(), small_.end(), x) != small_.end()) return false;
      small_.push_back(x);
      if (small_.size() == kScan) big_.insert(small_.begin(), small_.end());
      return true;
    }
    return big_.insert(x).second;
  }

 private:
  static constexpr size_t kScan = 16;
  std::vector<T> small_;
  std::set<T> big_;
};
}  // namespace

// The key: stage definition, input values (outputs of other instances by
// their instance and output name), and the content of every file among them.
bool Engine::ComputeKey(uint32_t id, std::string& error) {
  Item& it = items_[id];
  const plan::Instance& inst = InstanceOf(it);
  const plan::Stage& stage = plan_.StageOf(inst);
  auto def = stage_def_.find(inst.stage);
  if (def == stage_def_.end()) {
    std::string s = "stage " + stage.name + "\n" + TemplateText(plan_, stage.command, true) + "\n";
    for (const auto& e : stage.env) s += "env " + e.name + "=" + TemplateText(plan_, e.value, true) + "\n";
    for (const auto& f : stage.inputs) s += "in " + f.name + ":" + f.type.Spell() + "\n";
    for (const auto& f : stage.outputs) s += "out " + f.name + ":" + f.type.Spell() + "\n";
    def = stage_def_.emplace(inst.stage, StageKey{Hex64(llvm::xxHash64(s)), TemplateText(plan_, stage.command, false)})
              .first;
  }
  // The parts, as the text of a JSON object with sorted keys: command,
  // definition, files (path -> content hash), inputs, run (uncached stages
  // only), stage.
  std::vector<std::pair<llvm::StringRef, const json::Value*>> inputs;
  // (path, content hash), each path once; the (path, as a folder) pairs
  // hashed: each kind is hashed once.
  std::vector<std::pair<std::string, uint64_t>> files;
  SeenSet<std::string> file_paths;
  SeenSet<std::pair<std::string, bool>> checked;
  for (size_t i = 0; i < stage.inputs.size() && i < inst.args.size(); ++i) {
    const plan::Field& f = stage.inputs[i];
    const json::Value* v = it.inputs.get(f.name);
    if (!v) continue;
    inputs.emplace_back(f.name, v);
    bool bad = false;
    ForEachPath(plan_, f.type, *v, [&](const std::string& path, bool dir) {
      if (bad || !checked.Insert({path, dir})) return;
      auto h = HashPath(&store_, opt_.project_dir, path, error, dir ? PathKind::Dir : PathKind::File);
      if (!h) {
        error = fmt::format("input '{}': {}", f.name, error);
        bad = true;
        return;
      }
      // A path read both as a file and as a folder: the first kind's hash
      // stands for it.
      if (file_paths.Insert(path)) files.emplace_back(path, *h);
    });
    if (bad) return false;
  }
  std::sort(files.begin(), files.end());
  std::sort(inputs.begin(), inputs.end());
  inputs.erase(std::unique(inputs.begin(), inputs.end(),
                           [](const auto& a, const auto& b) { return a.first == b.first; }),
               inputs.end());
  std::string text;
  {
    plan::StringAppender os(text);
    json::OStream j(os);
    j.objectBegin();
    j.attribute("command", def->second.command);
    j.attribute("definition", def->second.hash);
    j.attributeObject("files", [&] {
      for (const auto& [path, hash] : files) j.attribute(path, Hex64(hash));
    });
    j.attributeObject("inputs", [&] {
      for (const auto& [name, v] : inputs) j.attribute(name, *v);
    });
    if (!stage.cache) j.attribute("run", run_);
    j.attribute("stage", stage.name);
    j.objectEnd();
  }
  // Paths of earlier outputs name their key folder; the key uses their
  // content (in "files") and the instance and output they come from, not the
  // folder, so an upstream rerun that gives the same content reuses this.
  std::string norm = NormalizeOutputPaths(text);
  uint64_t first = llvm::xxHash64(norm);
  norm.push_back('\x01');
  uint64_t second = llvm::xxHash64(norm);
  norm.pop_back();
  it.key = Hex64(first) + Hex64(second);
  it.key_parts = std::move(norm);
  // SPEC 1.3: each output a fresh path in the stage's own output folder:
  // .flow/out/STAGE/INSTANCE.KEY.OUTPUT (`dir` is the path without
  // ".OUTPUT"). One folder per stage, not per instance: on ext4 creating a
  // folder costs about as much as starting a process.
  it.dir = ".flow/out/" + SafeName(stage.name) + "/" + SafeName(it.name) + "." + it.key.substr(0, 16);
  return true;
}

std::optional<std::string> Engine::TryCache(uint32_t id) {
  Item& it = items_[id];
  const plan::Stage& stage = plan_.StageOf(InstanceOf(it));
  if (!stage.cache) return std::nullopt;
  auto row = store_.FindCache(it.key);
  if (!row) return cut_short_.empty() ? std::nullopt : RecoverCommitted(id);
  auto parsed = plan::ParseJson(row->outputs, plan::kMaxJsonDepth);
  if (!parsed || !parsed->getAsObject()) {
    if (!parsed) llvm::consumeError(parsed.takeError());
    if (!opt_.dry_run) store_.DropCache(it.key);
    return std::nullopt;
  }
  bool missing = false;
  for (const auto& f : stage.outputs)
    if (const json::Value* v = parsed->getAsObject()->get(f.name))
      ForEachPath(plan_, f.type, *v, [&](const std::string& path, bool) {
        if (::access(Abs(path).c_str(), F_OK) != 0) missing = true;
      });
  if (missing) {
    if (!opt_.dry_run) store_.DropCache(it.key);
    return std::nullopt;
  }
  it.outputs = Fields::From(std::move(*parsed->getAsObject()));
  it.outputs_text = ToText(it.outputs);
  return fmt::format("from run {}", row->run_id);
}

// An instance whose outputs are all committed under their final names but
// whose success no run recorded: a run was stopped (kill -9, a crash, a
// full disk) between the commit, which renames the outputs only after the
// attempt succeeded and they checked out, and the record, up to a commit
// group (0.1-1 s) later. Its outputs are reused as a cached result's would
// be, and recorded now; without this, a stage of hours that ended just
// before the kill ran again. Each output must have been committed (its
// ctime: the rename sets it) while a run that was cut short ran, so that
// outputs whose records were removed on purpose stay unused. A commit
// removes the final names of its instance's earlier outputs before its
// renames (CommitOutputs), so a commit cut short between two renames
// leaves some outputs missing, never a mix of two attempts'. Not for an
// instance without outputs (nothing shows that it ran), nor one whose
// value outputs hold paths (they named the attempt's temporary folder,
// and which one is not known now).
std::optional<std::string> Engine::RecoverCommitted(uint32_t id) {
  Item& it = items_[id];
  const plan::Stage& stage = plan_.StageOf(InstanceOf(it));
  if (stage.outputs.empty()) return std::nullopt;
  Fields outputs;
  for (const auto& f : stage.outputs) {
    std::string final_path = it.dir + "." + f.name;
    struct stat st;
    if (stat(Abs(final_path).c_str(), &st) != 0) return std::nullopt;
    double ctime = static_cast<double>(st.st_ctim.tv_sec) + st.st_ctim.tv_nsec / 1e9;
    if (std::none_of(cut_short_.begin(), cut_short_.end(),
                     [&](const auto& w) { return ctime >= w.first && ctime < w.second; }))
      return std::nullopt;
    if (f.type.kind == plan::Type::File || f.type.kind == plan::Type::Dir) {
      bool dir = f.type.kind == plan::Type::Dir;
      if (dir != S_ISDIR(st.st_mode) || (!dir && !S_ISREG(st.st_mode))) return std::nullopt;
      outputs[f.name] = final_path;
      continue;
    }
    json::Value v = nullptr;
    std::string error;
    if (!ReadValueOutput(f, final_path, v, error)) return std::nullopt;
    bool paths = false;
    ForEachPath(plan_, f.type, v, [&](const std::string&, bool) { paths = true; });
    if (paths) return std::nullopt;
    outputs[f.name] = std::move(v);
  }
  it.outputs = std::move(outputs);
  it.outputs_text = ToText(it.outputs);
  if (!opt_.dry_run) RecordCache(id);
  return std::string("recovered: its outputs were committed by a run stopped before it recorded them");
}

// Why a dry run would run instance `id` instead of reusing an earlier
// result: its stage is `cache false`, it never succeeded before, its
// earlier result's outputs are gone, or what changed in its cache key since
// (as `flow why` says it, the first two changes).
std::string Engine::WhyNotCached(uint32_t id) {
  const Item& it = items_[id];
  if (!plan_.StageOf(InstanceOf(it)).cache) return "cache false: runs every time";
  auto prev = store_.PreviousSuccess(std::numeric_limits<int64_t>::max(), it.name);
  if (!prev) return "no earlier result";
  if (prev->second.cache_key == it.key) return fmt::format("the outputs of its result of run {} are gone", prev->first);
  auto lines = ExplainKeyChange(prev->second.key_parts, it.key_parts);
  if (lines.empty()) return fmt::format("its cache key differs from run {}'s", prev->first);
  std::string why = "since run " + std::to_string(prev->first) + ": " + lines[0];
  if (lines.size() > 1) why += "; " + lines[1];
  if (lines.size() > 2) why += fmt::format(" (and {} more)", lines.size() - 2);
  return why;
}

std::string Engine::ValueFile(uint32_t id, const json::Value& v, std::string& error) {
  std::string dir = fmt::format(".flow/values/{}/{}", run_, SafeName(items_[id].name));
  std::string path = fmt::format("{}/v{}.json", dir, value_files_++);
  if (opt_.dry_run) return path;  // shown, not written: a dry run writes nothing
  if (!MakeDirs(Abs(dir), error)) return {};
  std::error_code ec;
  llvm::raw_fd_ostream os(Abs(path), ec);
  if (ec) {
    error = "cannot write " + path + ": " + ec.message();
    return {};
  }
  os << v << "\n";
  return path;
}

// The words of each piece of a template. `command`: quoted words for the
// command line; otherwise (env values) one text.
std::vector<CommandPiece> Engine::Pieces(uint32_t id, const std::vector<plan::TemplatePart>& parts,
                                         const std::string& out_prefix, bool command, std::string& error) {
  Item& it = items_[id];
  std::vector<CommandPiece> pieces;
  plan::EvalEnv env = EnvFor(it.copy, &it.inputs, &out_prefix);
  for (const auto& part : parts) {
    if (!part.expr.valid()) {
      pieces.push_back(CommandPiece::Text(part.text));
      continue;
    }
    plan::EvalResult r = plan::Evaluate(plan_, part.expr, env);
    if (r.state != plan::EvalResult::Known) {
      error = r.state == plan::EvalResult::Failed ? r.error : "a placeholder's value is not known";
      return {};
    }
    Type type = plan_.Get(part.expr).type;
    while (type.kind == Type::Optional) type = type.elem[0];
    std::vector<std::string> words;
    auto structured = [&](const Type& t) {
      return t.kind == Type::Record || t.kind == Type::Json || t.kind == Type::List;
    };
    if (plan_.Get(part.expr).op == Op::OutPath) {
      words.push_back(plan::FormatValue(r.value, Type::Scalar(Type::File)));  // a path, whatever the output's type
    } else if (r.value.getAsNull()) {
      // an absent optional: no word
    } else if (type.kind == Type::Record || type.kind == Type::Json ||
               (type.kind == Type::List && structured(type.elem[0]))) {
      std::string path = ValueFile(id, r.value, error);
      if (path.empty()) return {};
      words.push_back(path);
    } else if (type.kind == Type::List && command) {
      if (const json::Array* arr = r.value.getAsArray())
        for (const auto& e : *arr) words.push_back(plan::FormatValue(e, type.elem[0]));
    } else {
      words.push_back(plan::FormatValue(r.value, type));
    }
    // A command line or an environment variable ends at a NUL: the rest of
    // the value would be lost without a word (`"/\u0000tmp/x"` became `/`).
    for (const std::string& w : words) {
      if (w.find('\0') == std::string::npos) continue;
      std::string shown;
      for (char c : w.substr(0, 60)) shown += c == '\0' ? std::string("\\u0000") : std::string(1, c);
      error = fmt::format("the value \"{}{}\" holds a NUL character (\\u0000), which no {} can hold", shown,
                          w.size() > 60 ? "..." : "", command ? "command line" : "environment variable");
      return {};
    }
    pieces.push_back(CommandPiece::Words(std::move(words)));
  }
  return pieces;
}

// ------------------------------------------------------------------ state changes


}  // namespace flow::rt::engine_detail
