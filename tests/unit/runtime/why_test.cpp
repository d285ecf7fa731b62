// SPDX-License-Identifier: Apache-2.0
// `flow why` (runtime/cli/commands): ExplainKeyChange on key-parts
// documents as the engine records them (stage, definition, command, inputs,
// files, and run for `cache false`), then the whole command on a run store.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "engine/values.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/run_store.h"

namespace flow::rt {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Key parts as the engine writes them (engine.cpp, ComputeKey).
std::string Parts(const std::string& definition, const std::string& command, const std::string& inputs,
                  const std::string& files, const std::string& extra = "") {
  return R"({"stage":"train","definition":")" + definition + R"(","command":")" + command + R"(","inputs":)" +
         inputs + R"(,"files":)" + files + extra + "}";
}

const std::string kBase = Parts("d1", "python train.py --lr {lr}", R"({"lr":0.1,"data":".flow/out/prep.*/a.csv"})",
                                R"({".flow/out/prep.*/a.csv":"00000000000000aa"})");

TEST(ExplainKeyChange, NothingChanged) { EXPECT_THAT(ExplainKeyChange(kBase, kBase), IsEmpty()); }

// BUG (runtime/engine/values.cpp, Brief, used by ExplainKeyChange): values
// are printed with llvm::json's default double format (%.17g), so `flow why`
// says "input 'lr' changed: 0.10000000000000001 -> 0.01" where
// docs/runtime.md promises "0.1 -> 0.01" (the shortest text that reads back
// as the same double). The same Brief() text appears in output-check errors.
TEST(ExplainKeyChange, ChangedInput) {
  std::string after = Parts("d1", "python train.py --lr {lr}", R"({"lr":0.01,"data":".flow/out/prep.*/a.csv"})",
                            R"({".flow/out/prep.*/a.csv":"00000000000000aa"})");
  EXPECT_THAT(ExplainKeyChange(kBase, after), ElementsAre("input 'lr' changed: 0.1 -> 0.01"));
  // Other kinds of values, and inputs that appear or go away.
  std::string b = Parts("d1", "c", R"({"name":"a","tags":[1,2],"gone":true})", "{}");
  std::string a = Parts("d1", "c", R"({"name":"b","tags":[1,2,3],"new":null})", "{}");
  EXPECT_THAT(ExplainKeyChange(b, a),
              UnorderedElementsAre("input 'name' changed: \"a\" -> \"b\"", "input 'tags' changed: [1,2] -> [1,2,3]",
                                   "input 'gone' changed: true -> (none)", "input 'new' changed: (none) -> null"));
}

TEST(ExplainKeyChange, LongValuesAreCut) {
  std::string big(500, 'x');
  std::string a = Parts("d1", "c", R"({"s":")" + big + R"("})", "{}");
  auto lines = ExplainKeyChange(Parts("d1", "c", R"({"s":"y"})", "{}"), a);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("input 's' changed: \"y\" -> \"xxx"));
  EXPECT_LT(lines[0].size(), 120u);
}

TEST(ExplainKeyChange, ChangedFile) {
  std::string after = Parts("d1", "python train.py --lr {lr}", R"({"lr":0.1,"data":".flow/out/prep.*/a.csv"})",
                            R"({".flow/out/prep.*/a.csv":"00000000000000bb"})");
  EXPECT_THAT(ExplainKeyChange(kBase, after), ElementsAre("file .flow/out/prep.*/a.csv changed content"));
  // A file that is new among the inputs, one that is no longer.
  std::string b = Parts("d1", "c", "{}", R"({"old.txt":"01","same.txt":"02"})");
  std::string a = Parts("d1", "c", "{}", R"({"new.txt":"03","same.txt":"02"})");
  EXPECT_THAT(ExplainKeyChange(b, a),
              UnorderedElementsAre("file new.txt is a new input", "file old.txt is no longer an input"));
}

TEST(ExplainKeyChange, ChangedCommand) {
  std::string after = Parts("d2", "python train.py --lr {lr} --fast", R"({"lr":0.1,"data":".flow/out/prep.*/a.csv"})",
                            R"({".flow/out/prep.*/a.csv":"00000000000000aa"})");
  EXPECT_THAT(ExplainKeyChange(kBase, after),
              ElementsAre("the stage's command changed: \"python train.py --lr {lr}\" -> "
                          "\"python train.py --lr {lr} --fast\""));
  // The definition changed but not the command text (env, types...).
  std::string env = Parts("d3", "python train.py --lr {lr}", R"({"lr":0.1,"data":".flow/out/prep.*/a.csv"})",
                          R"({".flow/out/prep.*/a.csv":"00000000000000aa"})");
  auto lines = ExplainKeyChange(kBase, env);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("the stage's definition changed"));
}

TEST(ExplainKeyChange, SeveralChangesAreAllListed) {
  std::string after = Parts("d2", "other", R"({"lr":0.25,"data":".flow/out/prep.*/a.csv"})",
                            R"({".flow/out/prep.*/a.csv":"00000000000000cc"})");
  auto lines = ExplainKeyChange(kBase, after);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr("command changed"));
  EXPECT_THAT(lines[1], HasSubstr("input 'lr' changed: "));
  EXPECT_THAT(lines[1], HasSubstr(" -> 0.25"));
  EXPECT_EQ(lines[2], "file .flow/out/prep.*/a.csv changed content");
}

TEST(ExplainKeyChange, CacheFalse) {
  std::string b = Parts("d1", "date", "{}", "{}", R"(,"run":3)");
  std::string a = Parts("d1", "date", "{}", "{}", R"(,"run":4)");
  EXPECT_THAT(ExplainKeyChange(b, a), ElementsAre("the stage has `cache false`: it runs every time"));
  // Turned to `cache false` since (the definition is the same here only
  // for the test's sake).
  auto lines = ExplainKeyChange(Parts("d1", "date", "{}", "{}"), a);
  EXPECT_THAT(lines, ElementsAre("the stage has `cache false`: it runs every time"));
}

TEST(ExplainKeyChange, NothingToCompareWith) {
  EXPECT_THAT(ExplainKeyChange("", kBase), ElementsAre("the earlier run recorded no key parts to compare with"));
  EXPECT_THAT(ExplainKeyChange("not json", kBase), ElementsAre(HasSubstr("no key parts")));
  EXPECT_THAT(ExplainKeyChange("[1]", kBase), ElementsAre(HasSubstr("no key parts")));
  EXPECT_THAT(ExplainKeyChange(kBase, "{"), ElementsAre(HasSubstr("no key parts")));
}

// ------------------------------------------------------------ flow why

class WhyCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flow_why_test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    fs::create_directories(dir_ + "/.flow");
    std::string error;
    store_ = RunStore::Open(dir_ + "/.flow/runs.db", true, error);
    ASSERT_TRUE(store_) << error;
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  int64_t AddRun(const std::string& status, const std::string& key, const std::string& parts,
                 const std::string& reason = "") {
    RunRow r;
    r.status = "succeeded";
    r.started_at = WallNow();
    int64_t id = store_->NewRun(r);
    InstanceRow i;
    i.name = "train[2]";
    i.stage = "train";
    i.status = status;
    i.reason = reason;
    i.cache_key = key;
    i.key_parts = parts;
    store_->PutInstance(id, i);
    return id;
  }
  /// Runs `flow why ARGS --dir DIR`: the exit code and what it printed.
  std::pair<int, std::string> Why(std::vector<std::string> args) {
    args.push_back("--dir");
    args.push_back(dir_);
    fflush(stdout);
    ::testing::internal::CaptureStdout();
    int rc = RunQueryCommand("why", args);
    fflush(stdout);
    return {rc, ::testing::internal::GetCapturedStdout()};
  }
  std::string dir_;
  std::unique_ptr<RunStore> store_;
};

TEST_F(WhyCommand, SaysWhatChangedSinceTheLastSuccess) {
  // (Values that print exactly: see ExplainKeyChange.ChangedInput for 0.1.)
  AddRun("succeeded", "K1", Parts("d1", "c", R"({"lr":0.5})", "{}"));
  AddRun("cached", "K1", Parts("d1", "c", R"({"lr":0.5})", "{}"), "from run 1");
  AddRun("failed", "K3", Parts("d1", "c", R"({"lr":0.75})", "{}"));
  int64_t last = AddRun("succeeded", "K4", Parts("d1", "c", R"({"lr":0.25})", "{}"));
  auto [rc, out] = Why({std::to_string(last), "train[2]"});
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "train[2] ran again in run 4: in run 2 it was reused, and since then\n"
                 "  input 'lr' changed: 0.5 -> 0.25\n");
  // Without a run: the latest.
  auto latest = Why({"train[2]"});
  EXPECT_EQ(latest.second, out);
}

TEST_F(WhyCommand, CachedNoEarlierResultAndUnknown) {
  AddRun("succeeded", "K1", Parts("d1", "c", "{}", "{}"));
  auto first = Why({"1", "train[2]"});
  EXPECT_EQ(first.first, 0);
  EXPECT_THAT(first.second, HasSubstr("no earlier run has a result of it to reuse"));
  AddRun("cached", "K1", Parts("d1", "c", "{}", "{}"), "from run 1");
  auto cached = Why({"train[2]"});
  EXPECT_THAT(cached.second, HasSubstr("was reused in run 2 (from run 1)"));
  // Same key, ran anyway.
  AddRun("succeeded", "K1", Parts("d1", "c", "{}", "{}"));
  EXPECT_THAT(Why({"train[2]"}).second, HasSubstr("with the same cache key as in run 2"));
  // Unknown instance and unknown run: exit 1.
  EXPECT_EQ(Why({"nope"}).first, 1);
  EXPECT_EQ(Why({"99", "train[2]"}).first, 1);
  // Usage.
  EXPECT_EQ(Why({}).first, 2);
}

}  // namespace
}  // namespace flow::rt
