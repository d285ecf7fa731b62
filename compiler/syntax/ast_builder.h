// SPDX-License-Identifier: Apache-2.0
// Turns ANTLR parse-tree contexts into flow::ast nodes. Internal to
// compiler/syntax: only antlr_bridge.cpp and ast_builder.cpp include it.
#pragma once

#include <algorithm>
#include <functional>
#include <typeinfo>
#include <utility>

#include "ast/ast.h"
#include "diag/diagnostic.h"
#include "syntax/antlr_includes.h"
#include "syntax/offset_map.h"

namespace flow::syntax {

/// Which of several generated context classes a context is, cached by its
/// type_info address: one dynamic_cast chain per class instead of one per
/// node (dynamic_cast across the generated classes dominated parse time).
class AltCache {
 public:
  template <typename... Ts, typename B>
  int Index(B* ctx) {
    if (!ctx) return -1;
    const std::type_info* ti = &typeid(*ctx);
    for (const auto& [t, k] : cache_)
      if (t == ti) return k;
    int k = -1, i = 0;
    ((k < 0 && dynamic_cast<Ts*>(ctx) ? (k = i) : 0, ++i), ...);
    cache_.push_back({ti, k});
    return k;
  }

 private:
  std::vector<std::pair<const std::type_info*, int>> cache_;
};

/// Builds AST nodes from contexts. Parses the `{expr}` parts of strings
/// through `parse_interpolation`, which the bridge supplies.
class AstBuilder {
 public:
  using InterpolationParser =
      std::function<ast::ExprPtr(std::string_view text, uint32_t byte_offset, AstBuilder&)>;

  AstBuilder(ast::Module& module, std::string_view file_text, const OffsetMap& map,
             DiagSink& sink, InterpolationParser parse_interpolation)
      : module_(module),
        text_(file_text),
        map_(&map),
        sink_(sink),
        parse_interpolation_(std::move(parse_interpolation)) {}

  void AddImport(flowgen::FlowParser::ImportDeclContext* ctx);
  void AddParam(flowgen::FlowParser::ParamDeclContext* ctx);
  void AddRecord(flowgen::FlowParser::RecordDeclContext* ctx);
  void AddStage(flowgen::FlowParser::StageDeclContext* ctx);
  /// Starts a stage from its head; items are then added one by one.
  ast::Stage& BeginStage(flowgen::FlowParser::StageHeadContext* ctx);
  void AddTopItem(flowgen::FlowParser::TopItemContext* ctx);
  /// Starts a pipeline from its head; statements are then appended one by one.
  ast::Pipeline& BeginPipeline(flowgen::FlowParser::PipelineHeadContext* ctx);
  ast::StmtPtr BuildStatement(flowgen::FlowParser::StatementContext* ctx);
  void BuildStageItem(ast::Stage& stage, flowgen::FlowParser::StageItemContext* ctx);
  ast::ExprPtr BuildExpr(flowgen::FlowParser::ExprContext* ctx);

  /// Swaps the offset map (while building an interpolation's sub-tree).
  const OffsetMap* SwapMap(const OffsetMap* map) {
    std::swap(map, map_);
    return map;
  }
  /// Brackets the building of a `{...}` interpolation's expression.
  void SetInInterpolation(bool on) { in_interpolation_ = on; }

  SourceRange RangeOf(antlr4::ParserRuleContext* ctx) const;
  /// A token's text, sliced from the file; "" for tokens error recovery made up.
  std::string Text(antlr4::Token* tok) const;
  std::string Text(antlr4::tree::TerminalNode* node) const { return node ? Text(node->getSymbol()) : std::string(); }
  SourceRange RangeOf(antlr4::Token* tok) const;
  SourceRange RangeOf(antlr4::tree::TerminalNode* node) const {
    return RangeOf(node ? node->getSymbol() : nullptr);  // null after error recovery
  }
  ast::ExprId NextId() { return ast::ExprId{module_.num_exprs++}; }

 private:
  ast::ExprPtr BuildPrimary(flowgen::FlowParser::PrimaryContext* ctx);
  ast::ExprPtr BuildString(antlr4::Token* tok);
  ast::ExprPtr BuildNumber(antlr4::Token* tok, ast::ExprKind kind);
  ast::ExprPtr MakeError(SourceRange range);
  ast::TypeRef BuildType(flowgen::FlowParser::TypeRefContext* ctx);
  std::vector<ast::Field> BuildFields(flowgen::FlowParser::ParamListContext* ctx);
  ast::Block BuildBlock(flowgen::FlowParser::BlockContext* ctx);


  ast::Module& module_;
  std::string_view text_;
  const OffsetMap* map_;
  DiagSink& sink_;
  InterpolationParser parse_interpolation_;
  int depth_ = 0;  // expression nesting, capped at kMaxExprDepth
  bool depth_reported_ = false;
  bool in_interpolation_ = false;
  enum Site { kSiteStatement, kSiteExpr, kSitePrimary, kSiteStageItem, kNumSites };
  AltCache alts_[kNumSites];
};

}  // namespace flow::syntax
