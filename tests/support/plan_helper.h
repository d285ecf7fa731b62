// SPDX-License-Identifier: Apache-2.0
// PlanHelper: compiles an in-memory .flow snippet to a plan (lowered, and
// optionally optimized), for back-end tests.
#pragma once

#include <string>

#include "compile_helper.h"
#include "lower/lower.h"
#include "opt/passes.h"

namespace flow::testing {

class PlanHelper {
 public:
  /// Lowers `source` (which must check without errors) to an unoptimized plan.
  explicit PlanHelper(const std::string& source, lower::LowerOptions options = {}) : front_(source) {
    EXPECT_TRUE(front_.ok()) << ::testing::PrintToString(front_.diags());
    if (!front_.ok()) return;
    driver::RunWithLargeStack([&] {
      auto p = lower::Lower(front_.program(), front_.sm(), options, sink_, &notes_);
      if (p) plan_ = std::move(*p);
    });
    for (const auto& d : sink_.diagnostics()) {
      LineCol lc = d.range.valid() ? front_.sm().GetLineCol(d.range.file, d.range.begin) : LineCol{};
      diags_.push_back({d.kind, d.severity, lc.line, lc.col, d.message});
    }
  }

  bool ok() const { return plan_.has_value(); }
  plan::Plan& plan() { return *plan_; }
  const std::vector<Diag>& diags() const { return diags_; }
  const lower::LowerNotes& notes() const { return notes_; }

  /// The instance named `name`, or nullptr.
  const plan::Instance* Find(const std::string& name) const {
    for (const auto& i : plan_->instances)
      if (i.name == name) return &i;
    return nullptr;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& i : plan_->instances) names.push_back(i.name);
    return names;
  }
  /// Runs the default pipeline of passes.
  void Optimize(opt::Explain* explain = nullptr, const opt::OptimizeOptions& options = {}) {
    plan_ = opt::Optimize(std::move(*plan_), options, explain);
  }

 private:
  CompileHelper front_;
  DiagSink sink_;
  lower::LowerNotes notes_;
  std::optional<plan::Plan> plan_;
  std::vector<Diag> diags_;
};

}  // namespace flow::testing
