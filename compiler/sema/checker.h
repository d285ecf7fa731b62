// SPDX-License-Identifier: Apache-2.0
// The checker's private state (a phase-local Impl, as in Toy's MLIRGenImpl),
// shared by check*.cpp. Not part of sema's interface.
#pragma once

#include <map>
#include <optional>

#include "diag/diagnostic.h"
#include "fmt/format.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "sema/check.h"

namespace flow::sema {

class Checker {
 public:
  Checker(const std::vector<ast::Module>& modules, int entry, DiagSink& sink, const CheckOptions& options);
  Program Run();

 private:
  // ---- declarations (check_decls.cpp)
  void CollectDecls();
  void AddDecl(const std::string& name, SourceRange range, DeclKind kind, int index, int module);
  SourceRange DeclRange(DeclRef ref) const;
  int DeclModule(DeclRef ref) const;
  /// Params in an order where each default comes after the params it uses;
  /// reports cycles and leaves their params out.
  std::vector<int> OrderParams(const std::vector<int>& binding_of);
  TypeId ResolveType(const ast::TypeRef& ref);
  void ResolveRecords();
  void CheckParams();
  std::vector<Port> CheckPorts(const std::vector<ast::Field>& fields, const char* what,
                               const std::string& owner, llvm::StringMap<SourceRange>& seen);
  void CheckSignatures();
  void CheckStageBody(int stage);
  void CheckResources(const ast::MapItem& item);
  void CheckScalarItem(const std::optional<ast::ScalarItem>& item, const char* name, TypeId want,
                       const char* example);

  // ---- pipelines and statements (check_stmt.cpp)
  void CheckPipelineBody(int pipeline);
  void CheckBlock(const ast::Block& block);
  void CheckStmt(const ast::Stmt& stmt);
  int CheckBind(const std::string& name, SourceRange name_range, const ast::Expr& value, BindingKind kind);
  void CheckAssign(const ast::AssignStmt& s);
  void CheckOutput(const ast::OutputStmt& s);
  void CheckIf(const ast::IfStmt& s);
  void CheckFor(const ast::ForStmt& s);
  void CheckWhile(const ast::WhileStmt& s);
  void CheckRecursion();
  /// Inputs of a pipeline that bound a `while` must get compile-time values
  /// at every call; checked once all bodies are known (callers may pass them
  /// on from their own inputs).
  void CheckStaticInputs();
  void InputsReadBy(const ast::Expr& e, std::vector<int>& inputs);
  void ReportUnused();

  // ---- expressions (check_expr.cpp)
  TypeId CheckExpr(const ast::Expr& e);
  TypeId CheckExprImpl(const ast::Expr& e, bool& is_static);
  TypeId CheckName(const ast::NameRef& e, bool& is_static);
  TypeId CheckMember(const ast::Member& e, bool& is_static);
  TypeId CheckIndex(const ast::Index& e, bool& is_static);
  TypeId CheckUnary(const ast::Unary& e, bool& is_static);
  TypeId CheckBinary(const ast::Binary& e, bool& is_static);
  TypeId CheckString(const ast::StringLit& e, bool& is_static);
  TypeId CheckList(const ast::ListLit& e, bool& is_static);
  TypeId CheckCall(const ast::Call& e, bool& is_static);
  TypeId CheckBuiltin(const ast::Call& e, Builtin b, bool& is_static);
  // `kind_of_callee` is "stage" or "pipeline": the diagnostics' texts are
  // made only when there is one to give (formatting them for every
  // argument was a fifth of the checker's time on large pipelines).
  TypeId CheckCallArgs(const ast::Call& e, const std::vector<Port>& inputs, const char* kind_of_callee,
                       SourceRange decl_range);
  /// Reports a value of optional type where a plain value is needed; true if
  /// it reported.
  bool RejectOptional(TypeId t, const ast::Expr& e, const std::string& where);
  bool LiteralFits(const ast::Expr& e, TypeId want) const;
  /// Checks `e` against `want`, reporting with `kind`; returns e's type.
  void ExpectType(const ast::Expr& e, TypeId got, TypeId want, DiagKind kind, const std::string& what);
  /// The same, with the description made only when the types do not fit.
  void ExpectType(const ast::Expr& e, TypeId got, TypeId want, DiagKind kind,
                  llvm::function_ref<std::string()> what);
  bool IsStatic(const ast::Expr& e) const { return Facts().is_static[e.id.value] != 0; }

  // ---- scopes
  struct Scope {
    llvm::StringMap<int> names;
    std::vector<int> order;  // binding indices in declaration order
  };
  void PushScope() { scopes_.emplace_back(); }
  Scope PopScope() {
    Scope s = std::move(scopes_.back());
    scopes_.pop_back();
    return s;
  }
  /// Innermost binding of `name`, or -1. Skips the global scope when
  /// `hide_globals_` (inside a stage's run and env).
  int Lookup(const std::string& name) const;
  int Declare(Binding b, bool warn_shadow = true);
  void MarkUsed(int binding);

  ModuleFacts& Facts() { return prog_.facts[module_]; }
  const ModuleFacts& Facts() const { return prog_.facts[module_]; }
  Diagnostic& Error(DiagKind kind, SourceRange range, std::string message) {
    return sink_.Emit(kind, range, std::move(message));
  }
  std::string TypeName(TypeId t) const { return prog_.types.Name(t); }
  static std::string Describe(const ast::Expr& e);
  static std::string Suggest(const std::string& name, const std::vector<std::string>& candidates);
  std::vector<std::string> VisibleNames() const;

  enum class Context { Global, StageRun, StageStatic, Pipeline };

  const std::vector<ast::Module>& modules_;
  DiagSink& sink_;
  CheckOptions options_;
  Program prog_;
  std::vector<Scope> scopes_;
  Context ctx_ = Context::Global;
  bool hide_globals_ = false;
  bool interpolating_ = false;  // checking the expression of a string's {...}
  int module_ = 0;
  int stage_ = -1;     // stage whose body is being checked
  int pipeline_ = -1;  // pipeline whose body is being checked
  size_t pipeline_depth_ = 0;  // scopes_.size() at the pipeline body's top level
  llvm::StringMap<SourceRange> outputs_set_;
  std::vector<std::vector<std::pair<int, SourceRange>>> pipeline_calls_;
  struct PipelineCall {
    int caller;  // pipeline whose body has the call
    int callee;
    int module;
    const ast::Call* call;
  };
  std::vector<PipelineCall> calls_of_pipelines_;
  std::map<std::pair<int, int>, SourceRange> static_inputs_;  // (pipeline, input) -> the bound that needs it
};

}  // namespace flow::sema
