// SPDX-License-Identifier: Apache-2.0
// Lowering of stages and params, the phase's driver, and --param values.
#include <cerrno>
#include <cmath>
#include <map>
#include <set>

#include "fmt/format.h"
#include "lower/lowerer.h"
#include "opt/passes.h"
#include "plan/eval.h"
#include "plan/json_parse.h"
#include "plan/value_check.h"
#include "syntax/lexer.h"

namespace flow::lower {

namespace json = llvm::json;

namespace detail {

// ------------------------------------------------------------ plan pieces

std::vector<plan::TemplatePart> Lowerer::Template(const ast::Expr& e, int module) {
  std::vector<plan::TemplatePart> parts;
  int saved = frame_->module;
  frame_->module = module;
  if (auto* s = llvm::dyn_cast<ast::StringLit>(&e)) {
    for (const auto& p : s->parts) {
      if (p.expr) parts.push_back({"", LowerExpr(*p.expr)});
      else if (!parts.empty() && !parts.back().expr.valid()) parts.back().text += p.text;
      else parts.push_back({p.text, {}});
    }
  } else {
    parts.push_back({"", LowerExpr(e)});
  }
  frame_->module = saved;
  return parts;
}

int Lowerer::PlanStage(int sema_stage) {
  if (auto it = stage_index_.find(sema_stage); it != stage_index_.end()) return it->second;
  const sema::StageInfo& info = prog_.stages[sema_stage];
  const ast::Stage& decl = *info.decl;
  plan::Stage st;
  st.name = decl.name;
  for (const auto& p : info.inputs) st.inputs.push_back({p.name, TypeOf(p.type)});
  for (const auto& p : info.outputs) st.outputs.push_back({p.name, TypeOf(p.type)});
  st.loc = Loc(decl.name_range);
  Frame frame;
  frame.module = info.module;
  Frame* saved = frame_;
  frame_ = &frame;
  if (decl.run) st.command = Template(*decl.run->value, info.module);
  if (decl.env)
    for (const auto& e : decl.env->entries) st.env.push_back({e.key, Template(*e.value, info.module)});
  auto number = [&](const ast::Expr& e) -> std::optional<double> {
    auto v = Static(LowerExpr(e), e.range);
    if (SkipForLint()) return std::nullopt;
    if (!v) {
      if (!failed_) Error(DiagKind::BadResource, e.range, "this must be known at compile time");
      return std::nullopt;
    }
    auto d = v->getAsNumber();
    if (!d) return std::nullopt;
    if (*d < 0) {
      Error(DiagKind::BadResource, e.range, fmt::format("this cannot be negative (it is {})", *d));
      return std::nullopt;
    }
    return *d;
  };
  if (decl.resources)
    for (const auto& r : decl.resources->entries)
      if (auto d = number(*r.value)) st.resources.push_back({r.key, *d});
  if (decl.retry)
    if (auto d = number(*decl.retry->value)) st.retry = static_cast<int>(*d);
  if (decl.timeout)
    if (auto d = number(*decl.timeout->value)) st.timeout_ms = static_cast<int64_t>(*d);
  if (decl.estimate)
    if (auto d = number(*decl.estimate->value)) st.estimate_ms = static_cast<int64_t>(*d);
  if (decl.cache)
    if (auto v = Static(LowerExpr(*decl.cache->value), decl.cache->value->range))
      st.cache = v->getAsBoolean().getValueOr(true);
  missing_param_ = false;
  frame_ = saved;
  plan_.stages.push_back(std::move(st));
  int index = static_cast<int>(plan_.stages.size() - 1);
  stage_index_[sema_stage] = index;
  return index;
}

// A --param text parsed for its type, and a list, record or json value
// checked against it as flow run checks it: elements and fields too
// ("element[1]: expected int, found string"). The plan keeps the value as
// given; the check normalizes a copy.
std::variant<json::Value, std::string> Lowerer::CheckedParamValue(const std::string& text, const plan::Type& type) {
  auto parsed = ParseParamValue(text, type);
  if (auto* v = std::get_if<json::Value>(&parsed)) {
    json::Value copy = *v;
    std::string error;
    if (!plan::CheckValue(plan_, type, copy, error)) return error;
  }
  return parsed;
}

std::optional<json::Value> Lowerer::ParamValue(int index) {
  if (param_state_[index] == 2) return param_values_[index];
  if (param_state_[index] == 1) return std::nullopt;  // a cycle: sema reported it
  param_state_[index] = 1;
  const sema::ParamInfo& info = prog_.params[index];
  std::optional<json::Value> value;
  bool overridden = false;
  // The last --param of a name wins (the earlier ones are not even parsed).
  for (auto it = options_.params.rbegin(); it != options_.params.rend() && !overridden; ++it) {
    const auto& [name, text] = *it;
    if (name != info.decl->name) continue;
    auto parsed = CheckedParamValue(text, TypeOf(info.type));
    if (auto* err = std::get_if<std::string>(&parsed)) {
      auto& d = Error(DiagKind::BadParamValue, info.decl->name_range,
                      fmt::format("--param {}={}: {}", name, text, *err));
      d.fix_hint = fmt::format("param '{}' is of type {}", name, prog_.types.Name(info.type));
    } else {
      value = std::get<json::Value>(parsed);
    }
    overridden = true;
  }
  // A value carried over (by --resume) is checked like --param text: the
  // param's type may have changed since the run it comes from.
  for (const auto& [name, v] : options_.param_values) {
    if (overridden || name != info.decl->name) continue;
    overridden = true;
    std::string text;
    if (auto str = v.getAsString())
      text = str->str();
    else
      llvm::raw_string_ostream(text) << v;
    auto parsed = CheckedParamValue(text, TypeOf(info.type));
    if (auto* err = std::get_if<std::string>(&parsed)) {
      auto& d = Error(DiagKind::BadParamValue, info.decl->name_range,
                      fmt::format("param '{}' carried over by --resume ({}): {}", name, text, *err));
      d.fix_hint = fmt::format("param '{}' is of type {} now: give it with --param {}=...", name,
                               prog_.types.Name(info.type), name);
    } else {
      value = v;
    }
  }
  if (!overridden && info.decl->default_value) {
    Frame frame;
    frame.module = info.module;
    Frame* saved = frame_;
    frame_ = &frame;
    ExprId e = LowerExpr(*info.decl->default_value);
    frame_ = saved;
    plan::EvalEnv env;
    env.param = [&](const std::string& name) -> std::optional<json::Value> {
      for (size_t i = 0; i < prog_.params.size(); ++i)
        if (prog_.params[i].decl->name == name) return ParamValue(static_cast<int>(i));
      return std::nullopt;
    };
    plan::EvalResult r = plan::Evaluate(plan_, e, env);
    if (r.state == plan::EvalResult::Failed) Error(DiagKind::ConstantEvalError, info.decl->default_value->range, r.error);
    if (r.state == plan::EvalResult::Known) value = std::move(r.value);
  }
  param_values_[index] = value;
  param_state_[index] = 2;
  return value;
}

void Lowerer::BuildParams() {
  param_values_.resize(prog_.params.size());
  param_state_.assign(prog_.params.size(), 0);
  for (const auto& [name, text] : options_.params) {
    bool known = false;
    for (const auto& p : prog_.params) known = known || p.decl->name == name;
    if (!known) {
      std::string names;
      for (const auto& p : prog_.params) names += (names.empty() ? "" : ", ") + p.decl->name;
      auto& d = Error(DiagKind::UnknownParam, {}, fmt::format("--param {}: the program has no param '{}'", name, name));
      d.fix_hint = names.empty() ? "the program declares no params" : "its params are: " + names;
    }
  }
  for (size_t i = 0; i < prog_.params.size(); ++i) {
    plan::Param p;
    p.name = prog_.params[i].decl->name;
    p.type = TypeOf(prog_.params[i].type);
    std::optional<json::Value> v = ParamValue(static_cast<int>(i));
    p.required = !v;
    p.value = v ? *v : json::Value(nullptr);
    plan_.params.push_back(std::move(p));
  }
}

std::optional<plan::Plan> Lowerer::Run() {
  const sema::PipelineInfo* entry = prog_.FindPipeline(options_.entry);
  const ast::Module& mod = (*prog_.modules)[prog_.entry_module];
  if (!entry) {
    std::string names;
    for (const auto& p : prog_.pipelines) names += (names.empty() ? "" : ", ") + p.decl->name;
    auto& d = Error(DiagKind::UnknownEntry, {mod.file, 0, 0},
                    fmt::format("there is no pipeline '{}' to run", options_.entry));
    d.fix_hint = names.empty() ? "declare one: pipeline main { ... }"
                               : "pick one with --entry NAME; the pipelines are: " + names;
    return std::nullopt;
  }
  for (const auto& in : entry->inputs)
    if (!in.has_default() && prog_.types.Kind(in.type) != sema::TypeKind::Optional) {
      auto& d = Error(DiagKind::EntryWithInputs, in.decl->name_range,
                      fmt::format("pipeline '{}' is run as the entry, but its input '{}' has no default",
                                  entry->decl->name, in.name));
      d.fix_hint = "give the input a default, or call the pipeline from main with arguments";
    }
  plan_.source = sm_.Path(mod.file);
  plan_.entry = options_.entry;
  BuildParams();
  if (failed_) return std::nullopt;
  Frame frame;
  frame.module = entry->module;
  frame_ = &frame;
  for (size_t i = 0; i < entry->inputs.size() && i < entry->input_bindings.size(); ++i) {
    const sema::Port& port = entry->inputs[i];
    Set(entry->input_bindings[i], port.has_default() ? LowerExpr(*port.decl->default_value)
                                                     : Lit(nullptr, TypeOf(port.type)));
  }
  LowerBlock(entry->decl->body);
  frame_ = nullptr;
  for (auto& p : plan_.params) p.structural = structural_.count(p.name) > 0;
  if (failed_) return std::nullopt;
  opt::CompactExpressions(plan_);  // drop the intermediate nodes lowering made
  return std::move(plan_);
}

}  // namespace detail

std::optional<plan::Plan> Lower(const sema::Program& program, const SourceManager& sm, const LowerOptions& options,
                                DiagSink& sink, LowerNotes* notes) {
  return detail::Lowerer(program, sm, options, sink, notes).Run();
}

// ------------------------------------------------------------ --param text

std::variant<json::Value, std::string> ParseParamValue(const std::string& text, const plan::Type& type) {
  using T = plan::Type;
  switch (type.kind) {
    case T::String:
    case T::File:
    case T::Dir: return json::Value(text);
    case T::Optional:
      if (text == "none") return json::Value(nullptr);
      return ParseParamValue(text, type.elem[0]);
    case T::Bool:
      if (text == "true") return json::Value(true);
      if (text == "false") return json::Value(false);
      return std::string("expected true or false");
    case T::List:
    case T::Json:
    case T::Record: {
      auto v = plan::ParseJson(text, plan::kMaxValueJsonDepth);
      if (!v) {
        std::string why = llvm::toString(v.takeError());
        size_t at = why.find("]: ");  // "[1:5, byte=5]: what": the position means little in a param
        return fmt::format("expected JSON, as in [1, 2] or [\"a.csv\", \"b.csv\"] ({})",
                           at == std::string::npos ? why : why.substr(at + 3));
      }
      if (type.kind == T::List && !v->getAsArray()) return std::string("expected a JSON list, as in [1, 2]");
      return std::move(*v);
    }
    default: break;
  }
  // Numbers, durations and sizes: one token of the language.
  syntax::Lexer lexer(text);
  syntax::RawToken tok = lexer.Next();
  bool negative = false;
  if (tok.type == syntax::kTokMinus) {
    negative = true;
    tok = lexer.Next();
  }
  if (lexer.Next().type != syntax::kTokEof) return std::string("expected a single value");
  std::string body = text.substr(negative ? 1 : 0);
  errno = 0;
  switch (type.kind) {
    case T::Int:
      if (tok.type == syntax::kTokInt) {
        long long v = std::strtoll(body.c_str(), nullptr, 10);
        if (errno == ERANGE) return std::string("number out of range");
        return json::Value(static_cast<int64_t>(negative ? -v : v));
      }
      return std::string("expected an int");
    case T::Float:
      if (tok.type == syntax::kTokInt || tok.type == syntax::kTokFloat) {
        double v = std::strtod(body.c_str(), nullptr);
        return json::Value(negative ? -v : v);
      }
      return std::string("expected a number");
    case T::Duration:
    case T::Size: {
      bool duration = type.kind == T::Duration;
      if (tok.type != (duration ? syntax::kTokDuration : syntax::kTokSize) || negative)
        return std::string(duration ? "expected a duration such as 30s, 5m or 2h" : "expected a size such as 512MB or 4GB");
      size_t unit_at = body.find_first_not_of("0123456789.");
      double number = std::strtod(body.substr(0, unit_at).c_str(), nullptr);
      std::string unit = body.substr(unit_at);
      double scale = duration ? (unit == "ms" ? 1 : unit == "s" ? 1e3 : unit == "m" ? 60e3 : unit == "h" ? 3600e3 : 86400e3)
                              : (unit == "B" ? 1 : unit == "KB" ? 0x1p10 : unit == "MB" ? 0x1p20 : unit == "GB" ? 0x1p30 : 0x1p40);
      return json::Value(static_cast<int64_t>(std::llround(number * scale)));
    }
    default: return std::string("cannot be given on the command line");
  }
}

}  // namespace flow::lower
