// SPDX-License-Identifier: Apache-2.0
// The lowering phase's private state (a phase-local Impl, as in Toy's
// MLIRGenImpl), shared by lower*.cpp. Not part of lower's interface.
#pragma once

#include <map>
#include <set>

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "lower/lower.h"

namespace flow::lower::detail {

namespace json = llvm::json;
using plan::ExprId;
using plan::ExprNode;
using plan::Op;

// ------------------------------------------------------------ the lowerer

class Lowerer {
 public:
  Lowerer(const sema::Program& prog, const SourceManager& sm, const LowerOptions& options, DiagSink& sink,
          LowerNotes* notes)
      : prog_(prog), sm_(sm), options_(options), sink_(sink), notes_(notes) {}

  std::optional<plan::Plan> Run();

 private:
  // A pipeline body being lowered: its module, its bindings' values, and
  // the prefix of the instance names it creates.
  struct Frame {
    int module = 0;
    std::string prefix;  // "measure." inside a call of pipeline measure
    std::string suffix;  // "[2]" for static loop iterations, "@3" for while iterations
    llvm::StringMap<ExprId> outputs;
    int id = 0;               // identifies the frame (call sites are per frame)
    Frame* caller = nullptr;  // the frame of the call that inlined this one
    SourceRange call_site;    // and the call
    std::string pipeline;
  };

  // ---- values and expressions
  ExprId Add(ExprNode n) { return plan_.Add(std::move(n)); }
  ExprId Lit(json::Value v, plan::Type t) {
    ExprNode n;
    n.op = Op::Lit;
    n.type = std::move(t);
    n.lit = std::move(v);
    return Add(std::move(n));
  }
  ExprId Make(Op op, plan::Type t, std::vector<ExprId> args, std::string name = {});
  ExprId MakeMember(ExprId base, const std::string& name, plan::Type t);
  ExprId MakeMemberUncached(ExprId base, const std::string& name, plan::Type t);
  llvm::DenseMap<std::pair<int32_t, const void*>, ExprId> member_memo_;  // (base, interned name)
  llvm::StringSet<> member_names_;
  ExprId MakeIndex(ExprId base, ExprId index, plan::Type t);
  /// `local`: a gate of the map template being filled.
  ExprId MakeChoose(plan::GateId gate, std::vector<ExprId> values, plan::Type t, bool local = false);
  std::vector<plan::Gate>& GatePool() { return map_ ? map_->gates : plan_.gates; }
  bool IsLit(ExprId e) const { return plan_.Get(e).op == Op::Lit; }
  plan::Type TypeOf(sema::TypeId t);
  plan::Type TypeOfExpr(const ast::Expr& e) { return TypeOf(prog_.TypeOf(frame_->module, e)); }

  ExprId LowerExpr(const ast::Expr& e);
  ExprId LowerString(const ast::StringLit& s);
  ExprId LowerName(const ast::NameRef& e);
  ExprId LowerCall(const ast::Call& e);
  ExprId LowerStageCall(const ast::Call& e, int stage);
  ExprId LowerPipelineCall(const ast::Call& e, int pipeline);
  /// The value of an argument, or the input's default, or none.
  ExprId ArgValue(const ast::Call& call, const sema::Port& port, int callee_module);

  /// The compile-time value of `e`, substituting params (which become
  /// structural); std::nullopt if it depends on anything at run time.
  std::optional<json::Value> Static(ExprId e, SourceRange where);
  /// Set by Static when a param without a value stopped it (lint mode).
  bool missing_param_ = false;
  bool SkipForLint() {
    bool skip = options_.lint && missing_param_;
    missing_param_ = false;
    return skip;
  }

  // ---- statements
  void LowerBlock(const ast::Block& b);
  void LowerStmt(const ast::Stmt& s);
  void LowerIf(const ast::IfStmt& s);
  void LowerFor(const ast::ForStmt& s);
  void LowerWhile(const ast::WhileStmt& s);

  // ---- bindings, with an undo journal (branches and loop bodies)
  void Set(int binding, ExprId value) {
    if (journaling_) journal_.push_back({binding, env_.count(binding) ? env_[binding] : ExprId{}});
    env_[binding] = value;
  }
  ExprId Get(int binding) const {
    auto it = env_.find(binding);
    return it == env_.end() ? ExprId{} : it->second;
  }
  size_t Mark() {
    journaling_ = true;
    return journal_.size();
  }
  /// Undoes the writes since `mark`; returns the bindings written and their
  /// values at the end of that stretch.
  std::vector<std::pair<int, ExprId>> Undo(size_t mark) {
    std::vector<std::pair<int, ExprId>> written;
    std::set<int> seen;
    for (size_t i = journal_.size(); i-- > mark;) {
      int b = journal_[i].first;
      if (seen.insert(b).second) written.push_back({b, env_[b]});
    }
    for (size_t i = journal_.size(); i-- > mark;) {
      auto [b, old] = journal_[i];
      if (old.valid()) env_[b] = old;
      else env_.erase(b);
    }
    journal_.resize(mark);
    return written;
  }

  // ---- plan pieces
  int PlanStage(int sema_stage);
  std::vector<plan::TemplatePart> Template(const ast::Expr& e, int module);
  /// The name of an instance (or a sub-pipeline call's prefix) for the call
  /// at `call`: the callee's name, `#k` for the k-th call site of that name
  /// in this pipeline body, then the loop suffix ([i] for static loops, @k for
  /// while iterations, [*] inside a map template). One site keeps its number
  /// across iterations, so names from different sites never collide.
  std::string SiteName(const ast::Call& call, const std::string& callee);
  plan::SourceLoc Loc(SourceRange r) const;
  std::string LineOf(SourceRange r) const { return std::to_string(sm_.GetLineCol(r.file, r.begin).line); }
  void BuildParams();
  std::optional<json::Value> ParamValue(int index);
  std::variant<json::Value, std::string> CheckedParamValue(const std::string& text, const plan::Type& type);
  void Note(std::string line) {
    if (notes_) notes_->lines.push_back(std::move(line));
  }
  Diagnostic& Error(DiagKind kind, SourceRange r, std::string msg) {
    failed_ = true;
    Diagnostic& d = sink_.Emit(kind, r, std::move(msg));
    // Inside an inlined pipeline, the mistake may be the caller's: say where.
    for (Frame* f = frame_; f && f->call_site.valid(); f = f->caller)
      d.notes.push_back({f->call_site, fmt::format("in this call of pipeline '{}'", f->pipeline)});
    return d;
  }

  const sema::Program& prog_;
  const SourceManager& sm_;
  const LowerOptions& options_;
  DiagSink& sink_;
  LowerNotes* notes_;
  plan::Plan plan_;
  bool failed_ = false;

  Frame* frame_ = nullptr;
  llvm::DenseMap<int, ExprId> env_;
  std::vector<std::pair<int, ExprId>> journal_;
  bool journaling_ = false;
  std::vector<plan::Guard> guards_;
  plan::Map* map_ = nullptr;  // the map template being filled, if any
  std::set<int> map_declared_;  // vars declared inside the template being filled
  int map_index_ = -1;

  std::map<int, int> stage_index_;  // sema stage -> plan stage
  std::map<std::string, plan::Type> record_types_;
  llvm::StringMap<int> name_counts_;                        // call sites per callee name
  llvm::DenseMap<std::pair<int, const ast::Call*>, int> call_sites_;  // (frame id, call) -> site number
  llvm::StringSet<> used_names_;
  int next_frame_id_ = 0;
  std::vector<std::optional<json::Value>> param_values_;
  std::vector<int> param_state_;  // 0 unevaluated, 1 evaluating, 2 done
  std::set<std::string> structural_;
};

}  // namespace flow::lower::detail
