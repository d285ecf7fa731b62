// SPDX-License-Identifier: Apache-2.0
// The runtime's plan loader (rt::LoadPlanFile, plan::Deserialize): one test
// per way a plan file can be bad, each built by editing a good plan (compiled
// here with the driver API) as JSON, and each asserting that the error names
// the file, the JSON path of the problem and what is wrong. Then round trips:
// every golden plan of tests/plan and every plan compiled from examples/ and
// tests/plan reads back and writes the same bytes, and verifies clean.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "driver/frontend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "plan/plan.h"
#include "plan_io/load_plan.h"

namespace flow {
namespace {

namespace fs = std::filesystem;
namespace json = llvm::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// ------------------------------------------------------------------ helpers

/// Compiles a .flow source (in memory, or a file when `path` is given) to an
/// optimized plan with the driver API; fails the test on any error.
std::optional<plan::Plan> CompileSource(const std::string& source, const std::string& path = "",
                                        driver::CompileOptions options = {}) {
  SourceManager sm;
  DiagSink sink;
  driver::FrontendResult result;
  std::optional<plan::Plan> plan;
  options.use_history = false;
  driver::RunWithLargeStack([&] {
    if (path.empty()) {
      FileId file = sm.AddBuffer("/nonexistent/test.flow", source);
      driver::RunFrontend(sm, file, sink, driver::LoadOptions{}, result);
    } else {
      driver::RunFrontend(sm, path, sink, driver::LoadOptions{}, result);
    }
    if (!sink.has_errors()) plan = driver::CompileToPlan(result, sm, options, sink, nullptr, nullptr);
  });
  for (const auto& d : sink.diagnostics())
    if (d.severity == Severity::Error) ADD_FAILURE() << (path.empty() ? "source" : path) << ": " << d.message;
  return sink.has_errors() ? std::nullopt : plan;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The error of Deserialize, or "<accepted>".
std::string DeserializeError(const std::string& text, const std::string& origin = "bad.plan") {
  llvm::Expected<plan::Plan> p = plan::Deserialize(text, origin);
  if (p) return "<accepted>";
  return llvm::toString(p.takeError());
}

// A program with everything the rejections below edit: a record, a param,
// resources, a data reference (train reads prepare's output), a gate with an
// else whose branch guards an instance, and a `choose` over that gate.
constexpr const char* kBase = R"flow(
record Metrics { accuracy: float, loss: float }
param data: file = "in.csv"
stage prepare(src: file) -> (train: file, test: file) {
  resources { cpus: 1, memory: 1GB }
  run "prepare {src} {train} {test}"
}
stage train(data: file, lr: float) -> (model: file, metrics: Metrics) {
  run "train {data} {lr} {model} {metrics}"
}
stage deploy(model: file) { run "deploy {model}" }
stage alert(message: string) { run "alert {message}" }
pipeline main {
  let d = prepare(src: data)
  let t = train(data: d.train, lr: 0.1)
  if t.metrics.accuracy >= 0.9 {
    deploy(model: t.model)
    let note = "deployed"
  } else {
    let note = "kept"
  }
  alert(message: note)
}
)flow";

// Instances of kBase: 0 prepare, 1 train, 2 deploy (guarded by gate 0,
// branch 0), 3 alert (message: choose over gate 0). Stages: 0 prepare,
// 1 train, 2 deploy, 3 alert.
class Loader : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<plan::Plan> p = CompileSource(kBase);
    ASSERT_TRUE(p);
    text_ = plan::Serialize(*p);
    llvm::Expected<json::Value> v = json::parse(text_);
    ASSERT_TRUE(bool(v)) << llvm::toString(v.takeError());
    root_ = std::move(*v);
    // The edits below rely on this shape.
    ASSERT_EQ(Instance(1).getString("name").getValueOr(""), "train");
    ASSERT_EQ(Instance(2).getString("name").getValueOr(""), "deploy");
    ASSERT_EQ(Instance(3).getString("name").getValueOr(""), "alert");
    ASSERT_EQ(Root().getArray("gates")->size(), 1u);
  }

  json::Object& Root() { return *root_.getAsObject(); }
  json::Object& At(json::Array* a, size_t i) {
    EXPECT_TRUE(a && i < a->size());
    return *(*a)[i].getAsObject();
  }
  json::Object& Instance(size_t i) { return At(Root().getArray("instances"), i); }
  json::Object& Stage(size_t i) { return At(Root().getArray("stages"), i); }
  json::Object& Gate(size_t i) { return At(Root().getArray("gates"), i); }
  json::Object& Arg(size_t instance, const char* input) { return *Instance(instance).getObject("args")->getObject(input); }
  json::Object& Guard(size_t instance, size_t i) { return At(Instance(instance).getArray("guards"), i); }

  std::string Edited() const { return llvm::formatv("{0:1}", root_).str() + "\n"; }
  /// The error for the plan as edited.
  std::string Error() const { return DeserializeError(Edited()); }

  std::string text_;  // the unedited plan
  json::Value root_ = nullptr;
};

TEST_F(Loader, AcceptsTheUneditedPlan) {
  EXPECT_EQ(DeserializeError(text_), "<accepted>");
  EXPECT_EQ(Error(), "<accepted>");  // parsing and printing with llvm::json changes nothing that matters
}

// -------------------------------------------------------------- not a plan

TEST_F(Loader, RejectsTextThatIsNotJson) {
  std::string e = DeserializeError("flow-plan version 1\ninstances: prepare, train\n");
  EXPECT_THAT(e, StartsWith("bad.plan: not a plan: invalid JSON ("));
  EXPECT_THAT(e, HasSubstr("[1:2, byte=2]"));  // where in the text
}

TEST_F(Loader, RejectsJsonThatIsNotAnObject) {
  EXPECT_EQ(DeserializeError("[1, 2, 3]"), "bad.plan: bad plan: plan: expected an object");
}

TEST_F(Loader, RejectsAWrongFormatString) {
  Root()["format"] = "flow-plan-v2";
  EXPECT_EQ(Error(), "bad.plan: bad plan: plan.format: is 'flow-plan-v2', not 'flow-plan'");
  Root()["format"] = 1;
  EXPECT_EQ(Error(), "bad.plan: bad plan: plan.format: expected a string");
}

std::string VersionError(int version) {
  return "bad.plan: bad plan: plan.version: is " + std::to_string(version) + "; this flow reads version " +
         std::to_string(plan::kPlanVersion) + " (recompile the .flow file with this flowc)";
}

TEST_F(Loader, RejectsAnOlderVersion) {
  Root()["version"] = plan::kPlanVersion - 1;
  EXPECT_EQ(Error(), VersionError(plan::kPlanVersion - 1));
}

TEST_F(Loader, RejectsANewerVersion) {
  Root()["version"] = plan::kPlanVersion + 1;
  EXPECT_EQ(Error(), VersionError(plan::kPlanVersion + 1));
  Root()["version"] = "1";
  EXPECT_EQ(Error(), "bad.plan: bad plan: plan.version: expected an integer");
}

TEST_F(Loader, RejectsAMissingTopLevelField) {
  for (const char* field :
       {"format", "version", "source", "entry", "params", "records", "stages", "instances", "gates", "maps"}) {
    SCOPED_TRACE(field);
    json::Value saved = *Root().get(field);
    Root().erase(field);
    EXPECT_EQ(Error(), std::string("bad.plan: bad plan: plan.") + field + ": missing");
    Root()[field] = std::move(saved);
  }
  EXPECT_EQ(Error(), "<accepted>");
}

// ------------------------------------------------------ unknown spellings

TEST_F(Loader, RejectsAnUnknownOperation) {
  Arg(1, "lr")["op"] = "pow";
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[1].args.lr.op: unknown operation 'pow'");
}

TEST_F(Loader, RejectsAnUnknownOperationDeepInAGateCondition) {
  // gates[0].conds[0] is ge(member(output), lit): rename the member.
  json::Object& ge = At(Gate(0).getArray("conds"), 0);
  json::Object& member = At(ge.getArray("args"), 0);
  ASSERT_EQ(member.getString("op").getValueOr(""), "member");
  member["op"] = "field";
  EXPECT_EQ(Error(), "bad.plan: bad plan: gates[0].conds[0].args[0].op: unknown operation 'field'");
}

TEST_F(Loader, RejectsAnUnknownTypeString) {
  json::Object& lr = At(Stage(1).getArray("inputs"), 1);
  ASSERT_EQ(lr.getString("name").getValueOr(""), "lr");
  lr["type"] = "float[]";
  EXPECT_EQ(Error(), "bad.plan: bad plan: stages[1].inputs[1].type: unknown type 'float[]'");
  lr["type"] = "real";  // could be a record: it names none
  EXPECT_EQ(Error(), "bad.plan: bad plan: stages[1].inputs[1]: type 'real' names no record of the plan");
}

TEST_F(Loader, RejectsAnUnknownTypeStringInAnExpression) {
  Arg(1, "lr")["type"] = "list<float";
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[1].args.lr.type: unknown type 'list<float'");
}

TEST_F(Loader, RejectsATypeNamingNoRecord) {
  json::Object& metrics = At(Stage(1).getArray("outputs"), 1);
  ASSERT_EQ(metrics.getString("name").getValueOr(""), "metrics");
  metrics["type"] = "Metricz";
  EXPECT_EQ(Error(), "bad.plan: bad plan: stages[1].outputs[1]: type 'Metricz' names no record of the plan");
}

// ------------------------------------------------------ instances and args

TEST_F(Loader, RejectsAnInstanceOfAnUnknownStage) {
  Instance(2)["stage"] = "ship";
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[2].stage: no stage named 'ship'");
}

TEST_F(Loader, RejectsAnArgNamingNoInput) {
  Instance(1).getObject("args")->try_emplace("epochs", json::Object{{"op", "lit"}, {"type", "int"}, {"value", 5}});
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[1].args.epochs: stage 'train' has no such input");
}

TEST_F(Loader, RejectsAMissingArg) {
  Instance(1).getObject("args")->erase("lr");
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[1].args: no value for input 'lr'");
}

TEST_F(Loader, RejectsAnInstanceIdOutOfPlace) {
  Instance(2)["id"] = 5;
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[2].id: is 5, but the instance is at index 2");
}

// -------------------------------------------------------------- references

TEST_F(Loader, RejectsADanglingInstanceInAnOutputReference) {
  json::Object& data = Arg(1, "data");
  ASSERT_EQ(data.getString("op").getValueOr(""), "output");
  data["instance"] = 99;
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[1].args.data: instance 99 does not exist");
  data["instance"] = -1;
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[1].args.data.instance: -1 is out of range");
}

TEST_F(Loader, RejectsAReferenceToAnOutputTheStageDoesNotHave) {
  Arg(1, "data")["name"] = "validation";
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[1].args.data: stage 'prepare' has no output 'validation'");
}

TEST_F(Loader, RejectsAReferenceToAnOutputInAGateCondition) {
  json::Object& ge = At(Gate(0).getArray("conds"), 0);
  json::Object& member = At(ge.getArray("args"), 0);
  json::Object& output = At(member.getArray("args"), 0);
  ASSERT_EQ(output.getString("op").getValueOr(""), "output");
  output["name"] = "score";
  EXPECT_EQ(Error(), "bad.plan: bad plan: gates[0].conds[0].args[0].args[0]: stage 'train' has no output 'score'");
}

TEST_F(Loader, RejectsADanglingGateInAGuard) {
  Guard(2, 0)["gate"] = 7;
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[2].guards[0]: gate 7 does not exist");
}

TEST_F(Loader, RejectsABranchIndexOutOfRange) {
  // Gate 0 has a condition and an else: branches 0 and 1.
  Guard(2, 0)["branch"] = 2;
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[2].guards[0]: branch 2 of gate 0, which has branches 0 to 1");
  Guard(2, 0)["branch"] = 1;
  EXPECT_EQ(Error(), "<accepted>");
  Gate(0)["else"] = false;  // now branch 1 is gone
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[2].guards[0]: branch 1 of gate 0, which has branches 0 to 0");
}

TEST_F(Loader, RejectsAChooseWithTheWrongNumberOfValues) {
  json::Object& choose = Arg(3, "message");
  ASSERT_EQ(choose.getString("op").getValueOr(""), "choose");
  choose.getArray("args")->pop_back();
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[3].args.message: choose over gate 0 needs 2 values, has 1");
  choose.getArray("args")->push_back(json::Object{{"op", "lit"}, {"type", "string"}, {"value", "a"}});
  choose.getArray("args")->push_back(json::Object{{"op", "lit"}, {"type", "string"}, {"value", "b"}});
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[3].args.message: choose over gate 0 needs 2 values, has 3");
}

TEST_F(Loader, RejectsAChooseOverADanglingGate) {
  Arg(3, "message")["gate"] = 4;
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[3].args.message: gate 4 does not exist");
}

// ------------------------------------------------------------ the graph

TEST_F(Loader, RejectsADepOutOfRange) {
  Instance(1).getArray("deps")->push_back(99);
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[1].deps: instance 99 does not exist");
}

TEST_F(Loader, RejectsADepThatIsNotAnIndex) {
  Instance(1).getArray("deps")->push_back("prepare");
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[1].deps[1]: expected an instance index");
}

TEST_F(Loader, RejectsADependencyCycle) {
  // train reads prepare's output; make prepare wait for train.
  Instance(0).getArray("deps")->push_back(1);
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[0] ('prepare') is on a dependency cycle");
}

TEST_F(Loader, RejectsAnInstanceThatWaitsForItself) {
  Instance(3).getArray("deps")->push_back(3);
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[3] ('alert') is on a dependency cycle");
}

// -------------------------------------------------------------- stages

TEST_F(Loader, RejectsNegativeResources) {
  (*Stage(0).getObject("resources"))["cpus"] = -1;
  EXPECT_EQ(Error(), "bad.plan: bad plan: stages[0].resources.cpus: -1 is negative");
  (*Stage(0).getObject("resources"))["cpus"] = 1;
  (*Stage(0).getObject("resources"))["licenses"] = -0.5;
  EXPECT_EQ(Error(), "bad.plan: bad plan: stages[0].resources.licenses: -0.5 is negative");
}

TEST_F(Loader, RejectsAResourceThatIsNotANumber) {
  (*Stage(0).getObject("resources"))["memory"] = "1GB";
  EXPECT_EQ(Error(), "bad.plan: bad plan: stages[0].resources.memory: expected a number");
}

TEST_F(Loader, RejectsNegativeRetries) {
  Stage(1)["retry"] = -2;
  EXPECT_EQ(Error(), "bad.plan: bad plan: stages[1].retry: -2 is out of range");
}

TEST_F(Loader, RejectsTwoStagesWithOneName) {
  Stage(3)["name"] = "deploy";
  EXPECT_EQ(Error(), "bad.plan: bad plan: stages[3].name: a second stage named 'deploy'");
}

TEST_F(Loader, ReportsHowManyMoreProblemsThereAre) {
  Instance(1).getArray("deps")->push_back(99);
  Instance(2).getArray("deps")->push_back(98);
  EXPECT_EQ(Error(), "bad.plan: bad plan: instances[1].deps: instance 99 does not exist (and 1 more problems)");
}

// -------------------------------------------------------------- files

class LoaderFile : public Loader {
 protected:
  void SetUp() override {
    Loader::SetUp();
    llvm::SmallString<128> dir;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("flow-plan-loader", dir));
    dir_ = dir.str().str();
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  static std::string LoadError(const std::string& path) {
    llvm::Expected<plan::Plan> p = rt::LoadPlanFile(path);
    if (p) return "<accepted>";
    return llvm::toString(p.takeError());
  }
  std::string dir_;
};

TEST_F(LoaderFile, LoadsAGoodPlanFile) {
  std::string path = Write("good.plan", text_);
  llvm::Expected<plan::Plan> p = rt::LoadPlanFile(path);
  ASSERT_TRUE(bool(p)) << llvm::toString(p.takeError());
  EXPECT_EQ(plan::Serialize(*p), text_);
}

TEST_F(LoaderFile, RejectsAMissingFile) {
  std::string path = dir_ + "/nope/missing.plan";
  EXPECT_EQ(LoadError(path), "cannot read plan '" + path + "': No such file or directory");
}

TEST_F(LoaderFile, RejectsAnEmptyFile) {
  std::string path = Write("empty.plan", "");
  EXPECT_THAT(LoadError(path), StartsWith(path + ": not a plan: invalid JSON ("));
}

TEST_F(LoaderFile, RejectsATruncatedFile) {
  // Cut anywhere before the final closing brace: never accepted, never a
  // crash, and the error names the file.
  ASSERT_GT(text_.size(), 200u);
  for (size_t cut : {size_t(1), size_t(17), text_.size() / 3, text_.size() / 2, text_.size() - 3}) {
    SCOPED_TRACE(cut);
    std::string path = Write("truncated.plan", text_.substr(0, cut));
    EXPECT_THAT(LoadError(path), StartsWith(path + ": not a plan: invalid JSON ("));
  }
}

TEST_F(LoaderFile, RejectsABadPlanFileNamingTheFile) {
  Arg(1, "lr")["op"] = "pow";
  std::string path = Write("edited.plan", Edited());
  EXPECT_EQ(LoadError(path), path + ": bad plan: instances[1].args.lr.op: unknown operation 'pow'");
}

// ------------------------------------------------------------- round trips

std::vector<std::string> Files(const std::string& dir, const std::string& suffix, bool one_level_down = false) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() && one_level_down) {
      for (const auto& f : fs::directory_iterator(e.path()))
        if (f.is_regular_file() && llvm::StringRef(f.path().string()).endswith(suffix)) out.push_back(f.path().string());
    } else if (e.is_regular_file() && llvm::StringRef(e.path().string()).endswith(suffix)) {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::string kPlanDir = std::string(FLOW_SOURCE_DIR) + "/tests/plan";
const std::string kExamplesDir = std::string(FLOW_SOURCE_DIR) + "/examples";

/// Writes, reads and writes `p` (pretty and compact): the same bytes.
void ExpectRoundTrip(const plan::Plan& p) {
  std::string text = plan::Serialize(p);
  llvm::Expected<plan::Plan> back = plan::Deserialize(text, "plan");
  ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
  EXPECT_EQ(plan::Serialize(*back), text);
  std::string compact = plan::Serialize(p, /*pretty=*/false);
  EXPECT_EQ(std::count(compact.begin(), compact.end(), '\n'), 1);
  llvm::Expected<plan::Plan> from_compact = plan::Deserialize(compact, "plan");
  ASSERT_TRUE(bool(from_compact)) << llvm::toString(from_compact.takeError());
  EXPECT_EQ(plan::Serialize(*from_compact), text);
}

/// The options on a golden case's first line (`# flowc: --param K=V -O0`).
driver::CompileOptions OptionsOf(const std::string& flow_file) {
  driver::CompileOptions options;
  std::ifstream in(flow_file);
  std::string line;
  std::getline(in, line);
  const std::string prefix = "# flowc: ";
  if (line.compare(0, prefix.size(), prefix) != 0) return options;
  std::istringstream words(line.substr(prefix.size()));
  std::string w;
  while (words >> w) {
    if (w == "--param" && words >> w) {
      size_t eq = w.find('=');
      options.lower.params.push_back({w.substr(0, eq), w.substr(eq + 1)});
    } else if (w == "--entry" && words >> w) {
      options.lower.entry = w;
    } else if (w == "-O0") {
      options.optimize.dead_branches = options.optimize.common_calls = options.optimize.reduce_edges = false;
    } else if (w != "--no-history") {
      ADD_FAILURE() << flow_file << ": the test does not know flowc flag " << w;
    }
  }
  return options;
}

TEST(RoundTrip, EveryGoldenPlanReadsAndWritesTheSameBytes) {
  std::vector<std::string> plans = Files(kPlanDir, ".flow.plan");
  ASSERT_GE(plans.size(), 20u);
  for (const auto& path : plans) {
    SCOPED_TRACE(path);
    std::string text = ReadFile(path);
    llvm::Expected<plan::Plan> p = plan::Deserialize(text, path);
    ASSERT_TRUE(bool(p)) << llvm::toString(p.takeError());
    EXPECT_THAT(plan::Verify(*p), ::testing::IsEmpty());
    EXPECT_EQ(plan::Serialize(*p), text);
    llvm::Expected<plan::Plan> from_compact = plan::Deserialize(plan::Serialize(*p, /*pretty=*/false), path);
    ASSERT_TRUE(bool(from_compact)) << llvm::toString(from_compact.takeError());
    EXPECT_EQ(plan::Serialize(*from_compact), text);
  }
}

TEST(RoundTrip, EveryGoldenCaseHasItsExpectedFiles) {
  for (const auto& flow : Files(kPlanDir, ".flow")) {
    EXPECT_TRUE(fs::exists(flow + ".plan")) << flow << ": no .plan (tests/plan/update.sh writes it)";
    EXPECT_TRUE(fs::exists(flow + ".explain")) << flow << ": no .explain (tests/plan/update.sh writes it)";
  }
}

TEST(RoundTrip, PlansCompiledFromExamplesVerifyAndRoundTrip) {
  std::vector<std::string> sources = Files(kExamplesDir, ".flow", /*one_level_down=*/true);
  ASSERT_GE(sources.size(), 3u);
  for (const auto& path : sources) {
    for (bool optimize : {true, false}) {
      SCOPED_TRACE(path + (optimize ? "" : " -O0"));
      driver::CompileOptions options;
      options.optimize.dead_branches = options.optimize.common_calls = options.optimize.reduce_edges = optimize;
      std::optional<plan::Plan> p = CompileSource("", path, options);
      ASSERT_TRUE(p);
      EXPECT_FALSE(p->instances.empty());
      EXPECT_THAT(plan::Verify(*p), ::testing::IsEmpty());
      ExpectRoundTrip(*p);
    }
  }
}

TEST(RoundTrip, PlansCompiledFromGoldenCasesVerifyAndRoundTrip) {
  for (const auto& path : Files(kPlanDir, ".flow")) {
    for (bool optimize : {true, false}) {
      SCOPED_TRACE(path + (optimize ? "" : " -O0"));
      driver::CompileOptions options = OptionsOf(path);
      if (!optimize)
        options.optimize.dead_branches = options.optimize.common_calls = options.optimize.reduce_edges = false;
      std::optional<plan::Plan> p = CompileSource("", path, options);
      ASSERT_TRUE(p);
      EXPECT_THAT(plan::Verify(*p), ::testing::IsEmpty());
      ExpectRoundTrip(*p);
    }
  }
}

TEST(RoundTrip, FlowcOutputLoadsInTheRuntime) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("flow-plan-roundtrip", dir));
  for (const char* flag : {"", " --pretty"}) {
    SCOPED_TRACE(flag);
    std::string out = dir.str().str() + "/ml_sweep.plan";
    std::string cmd = std::string("'") + FLOWC_PATH + "' '" + kExamplesDir + "/ml_sweep.flow' --no-history -o '" + out +
                      "'" + flag + " 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    llvm::Expected<plan::Plan> p = rt::LoadPlanFile(out);
    ASSERT_TRUE(bool(p)) << llvm::toString(p.takeError());
    EXPECT_EQ(p->instances.size(), 9u);
    EXPECT_EQ(p->gates.size(), 1u);
    std::string text = ReadFile(out);
    EXPECT_EQ(plan::Serialize(*p, /*pretty=*/*flag != '\0'), text);
  }
  llvm::sys::fs::remove_directories(dir);
}

}  // namespace
}  // namespace flow
