// SPDX-License-Identifier: Apache-2.0
// Plan types: spellings of types and operations, reference collection.
#include "plan/plan.h"

#include "llvm/ADT/DenseSet.h"

namespace flow::plan {

namespace {
constexpr const char* kScalars[] = {"int", "float", "bool", "string", "duration", "size", "file", "dir", "json", "none"};
}

std::string Type::Spell() const {
  switch (kind) {
    case List: return "list<" + elem.at(0).Spell() + ">";
    case Optional: return elem.at(0).Spell() + "?";
    case Record: return record;
    default: return kScalars[kind];
  }
}

std::optional<Type> Type::Parse(std::string_view text) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  text = trim(text);
  if (text.empty()) return std::nullopt;
  if (text.back() == '?') {
    auto inner = Parse(text.substr(0, text.size() - 1));
    if (!inner || inner->kind == Optional) return std::nullopt;
    return OptionalOf(*inner);
  }
  if (text.substr(0, 5) == "list<" && text.back() == '>') {
    auto inner = Parse(text.substr(5, text.size() - 6));
    if (!inner) return std::nullopt;
    return ListOf(*inner);
  }
  for (int k = 0; k <= None; ++k)
    if (text == kScalars[k]) return Scalar(static_cast<Kind>(k));
  // A record name: an identifier.
  auto ident_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (std::isdigit(static_cast<unsigned char>(text[0]))) return std::nullopt;
  for (char c : text)
    if (!ident_char(c)) return std::nullopt;
  return RecordNamed(std::string(text));
}

const char* Spelling(Op op) {
  switch (op) {
#define FLOW_PLAN_OP(Name, S) \
  case Op::Name:              \
    return S;
#include "plan/ops.def"
  }
  return "?";
}

std::optional<Op> OpFromSpelling(std::string_view s) {
#define FLOW_PLAN_OP(Name, S) \
  if (s == S) return Op::Name;
#include "plan/ops.def"
  return std::nullopt;
}

const char* Spelling(EstimateSource s) {
  switch (s) {
    case EstimateSource::Declared: return "declared";
    case EstimateSource::History: return "history";
    case EstimateSource::Default: return "default";
  }
  return "default";
}

void CollectOutputRefs(const Plan& plan, ExprId expr, std::vector<InstanceId>& out) {
  std::vector<ExprId> work{expr};
  llvm::DenseSet<int32_t> visited;
  while (!work.empty()) {
    ExprId e = work.back();
    work.pop_back();
    if (!visited.insert(e.value).second) continue;  // shared subexpression: once
    if (!e.valid() || e.value >= static_cast<int32_t>(plan.exprs.size())) continue;
    const ExprNode& n = plan.Get(e);
    if (n.op == Op::Output && !n.local) out.push_back(n.instance);
    for (ExprId a : n.args) work.push_back(a);
  }
}

}  // namespace flow::plan
