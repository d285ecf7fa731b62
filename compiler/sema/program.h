// SPDX-License-Identifier: Apache-2.0
// The checked program: the modules' ASTs plus everything sema learned about
// them (declarations, types of every expression, what each name and call
// refers to). Lowering reads this; it never re-derives types.
#pragma once

#include <vector>

#include "ast/ast.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "sema/types.h"

namespace flow::sema {

enum class Builtin { Len, Range, Min, Max, Sum, Abs, Round, Str, Int, Float, Join, Basename };
const char* BuiltinName(Builtin b);

/// One input or output of a stage or pipeline.
struct Port {
  std::string name;
  TypeId type;
  const ast::Field* decl = nullptr;
  bool has_default() const { return decl && decl->default_value; }
};

struct ParamInfo {
  const ast::Param* decl = nullptr;
  int module = 0;
  TypeId type;
  bool used = false;
};
struct RecordInfo {
  const ast::Record* decl = nullptr;
  int module = 0;
  TypeId type;
};
struct StageInfo {
  const ast::Stage* decl = nullptr;
  int module = 0;
  std::vector<Port> inputs;
  std::vector<Port> outputs;
  TypeId outputs_type;  // structural record of the outputs
  bool used = false;
};
struct PipelineInfo {
  const ast::Pipeline* decl = nullptr;
  int module = 0;
  std::vector<Port> inputs;
  std::vector<Port> outputs;
  TypeId outputs_type;
  bool used = false;
  std::vector<int> input_bindings;  // Binding index of each input, in order
};

enum class DeclKind { Param, Record, Stage, Pipeline };
struct DeclRef {
  DeclKind kind;
  int index;
};

enum class BindingKind { Param, Let, Var, LoopVar, PipelineInput, StageInput, StageOutput };

/// A named value in some scope. Bindings lifted out of an `if` or `for`
/// (SPEC 1.4) are bindings of their own that list their `sources`.
struct Binding {
  std::string name;
  BindingKind kind;
  TypeId type;
  SourceRange range;
  int module = 0;
  /// Known at compile time: no stage output in it. Pipeline inputs count as
  /// static here; lowering checks them at each call site.
  bool is_static = false;
  bool used = false;
  bool lifted = false;
  std::vector<int> sources;
  int param = -1;  // for BindingKind::Param: index into Program::params
};

/// What a call expression calls.
struct CallTarget {
  enum Kind : int8_t { None, Stage, Pipeline, Builtin } kind = None;
  int index = -1;  // StageInfo / PipelineInfo index, or the Builtin value
};

/// Per-module facts, indexed by ast::ExprId, and per statement.
struct ModuleFacts {
  std::vector<TypeId> expr_type;
  std::vector<int32_t> name_binding;  // NameRef -> Binding index, or -1
  std::vector<CallTarget> call_target;
  std::vector<uint8_t> is_static;
  /// let/var: the binding declared; assignment: the var assigned; for: the
  /// loop variable.
  llvm::DenseMap<const ast::Stmt*, int> stmt_binding;
  /// if/for: the bindings lifted into the enclosing scope after it.
  llvm::DenseMap<const ast::Stmt*, std::vector<int>> lifted;
};

/// The result of Check. Refers into `modules` (which must outlive it).
struct Program {
  const std::vector<ast::Module>* modules = nullptr;
  int entry_module = 0;
  TypeTable types;
  std::vector<ParamInfo> params;
  std::vector<RecordInfo> records;
  std::vector<StageInfo> stages;
  std::vector<PipelineInfo> pipelines;
  std::vector<Binding> bindings;
  llvm::StringMap<DeclRef> decls;
  std::vector<ModuleFacts> facts;

  TypeId TypeOf(int module, const ast::Expr& e) const { return facts[module].expr_type[e.id.value]; }
  const PipelineInfo* FindPipeline(const std::string& name) const;
};

}  // namespace flow::sema
