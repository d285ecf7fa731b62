// SPDX-License-Identifier: Apache-2.0
// The plan: the one contract between compiler and runtime. A DAG of stage
// instances with typed data references, gates for runtime conditions and map
// templates for dynamic fan-out; written as versioned JSON
// (docs/plan-format.md). Depends on nothing else in the compiler.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "llvm/Support/JSON.h"

namespace flow::plan {

inline constexpr int kPlanVersion = 1;
inline constexpr const char* kPlanFormat = "flow-plan";

// ------------------------------------------------------------------ types

/// A flow type, as the plan spells it: "int", "list<file>", "float?",
/// "Metrics" (a record of Plan::records), "json".
struct Type {
  enum Kind { Int, Float, Bool, String, Duration, Size, File, Dir, Json, None, List, Optional, Record };
  Kind kind = Json;
  std::vector<Type> elem;  // one element for List and Optional
  std::string record;      // Record: the name in Plan::records

  static Type Scalar(Kind k) { return Type{k, {}, {}}; }
  static Type ListOf(Type t) { return Type{List, {std::move(t)}, {}}; }
  static Type OptionalOf(Type t) { return Type{Optional, {std::move(t)}, {}}; }
  static Type RecordNamed(std::string name) { return Type{Record, {}, std::move(name)}; }
  std::string Spell() const;
  /// Parses a spelling; std::nullopt if it is not one.
  static std::optional<Type> Parse(std::string_view text);
  friend bool operator==(const Type& a, const Type& b) {
    return a.kind == b.kind && a.elem == b.elem && a.record == b.record;
  }
};

struct Field {
  std::string name;
  Type type;
};

struct Record {
  std::string name;
  std::vector<Field> fields;
};

// ------------------------------------------------------------- expressions

struct ExprId {
  int32_t value = -1;
  bool valid() const { return value >= 0; }
  friend bool operator==(ExprId a, ExprId b) { return a.value == b.value; }
};
struct InstanceId {
  int32_t value = -1;
  friend bool operator==(InstanceId a, InstanceId b) { return a.value == b.value; }
  friend bool operator<(InstanceId a, InstanceId b) { return a.value < b.value; }
};
struct GateId {
  int32_t value = -1;
  friend bool operator==(GateId a, GateId b) { return a.value == b.value; }
};
struct MapId {
  int32_t value = -1;
};

enum class Op : uint8_t {
#define FLOW_PLAN_OP(Name, Spelling) Name,
#include "plan/ops.def"
};
const char* Spelling(Op op);
std::optional<Op> OpFromSpelling(std::string_view s);

/// One node of an expression tree. Values flowing into a stage are trees of
/// these: literals, params, outputs of other instances, and operations on
/// them; never strings to parse again.
struct ExprNode {
  Op op = Op::Lit;
  Type type;                        // the value's type
  llvm::json::Value lit = nullptr;  // Lit: the value
  std::string name;                 // Param, Output, Member, Input, OutPath, Builtin, Var, Record field names (joined)
  InstanceId instance;              // Output: the producing instance
  GateId gate;                      // Choose
  MapId map;                        // MapValues
  bool local = false;               // Output/Choose in a map template: `instance`/`gate` index the template's
  std::vector<ExprId> args;
  std::vector<std::string> fields;  // Record: the field name of each arg

  // llvm::json::Value's move is not declared noexcept, so without these a
  // growing std::vector<ExprNode> would copy every node instead of moving it.
  ExprNode() = default;
  ExprNode(const ExprNode&) = default;
  ExprNode& operator=(const ExprNode&) = default;
  ExprNode(ExprNode&&) noexcept = default;
  ExprNode& operator=(ExprNode&&) noexcept = default;
};

// ---------------------------------------------------------------- stages

/// A piece of a command or env template: literal text, or an expression over
/// the stage's inputs (Op::Input) and output paths (Op::OutPath).
struct TemplatePart {
  std::string text;
  ExprId expr;  // invalid for a text part
};

struct EnvVar {
  std::string name;
  std::vector<TemplatePart> value;
};

struct Resource {
  std::string name;  // cpus, memory (bytes), gpus, or a custom pool
  double amount = 0;
};

struct SourceLoc {
  std::string file;  // empty: the plan's source file
  unsigned line = 0;
  unsigned col = 0;
};

/// A stage definition, shared by all its instances.
struct Stage {
  std::string name;
  std::vector<Field> inputs;
  std::vector<Field> outputs;
  std::vector<TemplatePart> command;
  std::vector<EnvVar> env;
  std::vector<Resource> resources;
  int retry = 0;
  std::optional<int64_t> timeout_ms;
  std::optional<int64_t> estimate_ms;
  bool cache = true;
  SourceLoc loc;
};

// ------------------------------------------------------- instances, gates

/// The instance runs only if gate `gate` chose branch `branch`.
struct Guard {
  GateId gate;
  int32_t branch = 0;
  friend bool operator==(const Guard& a, const Guard& b) { return a.gate == b.gate && a.branch == b.branch; }
};

struct Arg {
  std::string input;
  ExprId value;
};

enum class EstimateSource { Declared, History, Default };
const char* Spelling(EstimateSource s);

struct Instance {
  std::string name;    // "train[2]", "eval.fit", "finetune@3"
  int32_t stage = -1;  // index into Plan::stages
  std::vector<Arg> args;  // one per stage input, in stage order
  std::vector<Guard> guards;
  std::vector<InstanceId> deps;  // must finish first (transitively reduced)
  int64_t estimate_ms = 0;
  EstimateSource estimate_source = EstimateSource::Default;
  double priority_s = 0;  // longest path from here to the end, this instance included
  SourceLoc loc;
};

/// A runtime condition: `if c1 {} else if c2 {} else {}`. Once the outputs
/// its conditions read exist, the runtime picks the first true condition's
/// branch (0-based), the else branch (index conds.size()) when there is one,
/// or no branch; instances guarded by another branch are skipped.
struct Gate {
  std::string name;  // "if@12" (the source line), for logs
  std::vector<ExprId> conds;
  bool has_else = false;
  std::vector<Guard> guards;  // a gate inside a branch of another gate
  SourceLoc loc;
};

/// Dynamic fan-out: `for x in LIST` over a list that exists only at run
/// time. When `over` can be evaluated, the runtime makes one copy of the
/// template (`instances` and `gates`) per element, with Op::Var(`var`) bound
/// to the element. Inside the template, local Output and Choose nodes, and
/// the instances' guards, refer to the template's own instances and gates.
struct Map {
  std::string name;  // "for@20"
  ExprId over;
  std::string var;
  std::vector<Instance> instances;
  std::vector<Gate> gates;
  std::vector<Guard> guards;  // on the whole map (outer gates)
  SourceLoc loc;
};

struct Param {
  std::string name;
  Type type;
  llvm::json::Value value = nullptr;  // default or bound value; null when required
  bool required = false;    // no value yet: must be given at run time
  bool structural = false;  // decided the plan's shape: changing it needs a recompile
};

struct Plan {
  std::string source;  // entry .flow file
  std::string entry = "main";
  std::vector<Param> params;
  std::vector<Record> records;
  std::vector<Stage> stages;
  std::vector<Instance> instances;
  std::vector<Gate> gates;
  std::vector<Map> maps;
  std::vector<ExprNode> exprs;

  ExprId Add(ExprNode node) {
    exprs.push_back(std::move(node));
    return ExprId{static_cast<int32_t>(exprs.size() - 1)};
  }
  const ExprNode& Get(ExprId id) const { return exprs[id.value]; }
  ExprNode& Get(ExprId id) { return exprs[id.value]; }
  const Stage& StageOf(const Instance& i) const { return stages[i.stage]; }
};

// ------------------------------------------------------------------ JSON

/// The plan as JSON (docs/plan-format.md). Expressions are written as nested
/// objects, so other tools need no expression table.
llvm::json::Value ToJson(const Plan& plan);
/// Reads JSON written by ToJson. Errors name the JSON path ("instances[3].
/// args.data") and what is wrong. Does not check references: see Verify.
llvm::Expected<Plan> FromJson(const llvm::json::Value& json);
/// Checks a plan's internal consistency: every reference resolves, args
/// match their stage's inputs, dependencies form a DAG. Empty when sound.
std::vector<std::string> Verify(const Plan& plan);
/// Streams the plan as JSON (indented by one space when `pretty`, else on
/// one line), then a newline.
void WriteJson(const Plan& plan, llvm::raw_ostream& os, bool pretty = true);
/// WriteJson into a string.
std::string Serialize(const Plan& plan, bool pretty = true);
/// Parses and verifies plan text (what the runtime loads). `origin` names
/// the file in errors.
llvm::Expected<Plan> Deserialize(llvm::StringRef text, const std::string& origin);

/// Graphviz DOT: instances as boxes, data edges labelled with the output
/// name, gates as diamonds, map templates as clusters.
std::string ToDot(const Plan& plan);

/// All top-level instances that `expr` reads an output of.
void CollectOutputRefs(const Plan& plan, ExprId expr, std::vector<InstanceId>& out);

}  // namespace flow::plan
