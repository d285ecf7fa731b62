// SPDX-License-Identifier: Apache-2.0
// End-to-end tests of where attempts write their outputs (docs/runtime.md,
// "Where things live"): under .flow/tmp/SLOT, which is what `{output}` gives
// the command (and its env block), renamed into .flow/out/STAGE on success;
// a failed, retried or cancelled attempt's partial output stays in .flow/tmp
// until the next `flow run` starts and removes all of it. The pipelines are
// in tests/e2e/tmp.flow; their commands note the paths they were given.
#include <sys/stat.h>

#include "run_fixture.h"

namespace flow::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

/// Every entry under `dir` that is not a folder (files, links), relative to it.
std::vector<std::string> NonFolders(const fs::path& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return found;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (!it->is_directory() || it->is_symlink()) found.push_back(fs::relative(it->path(), dir).string());
  std::sort(found.begin(), found.end());
  return found;
}

/// The first line of a file the commands wrote ("" when none).
std::string FirstLine(const fs::path& file) {
  auto lines = Lines(ReadFile(file));
  return lines.empty() ? std::string() : lines[0];
}

class TmpE2E : public RunE2E {
 protected:
  void SetUp() override {
    RunE2E::SetUp();
    file_ = Use("tmp.flow");
  }
  Result Run(const std::string& entry) { return Flow({"run", file_.string(), "--entry", entry}); }
  fs::path tmp() const { return work_ / ".flow" / "tmp"; }
  fs::path file_;
};

TEST_F(TmpE2E, FailedAttemptKeepsItsPartialOutputInTmpUntilTheNextRunStarts) {
  WriteFile(work_ / "fail.flag", "");
  Result first = Run("partial");
  ASSERT_EQ(first.code, 1) << first.Describe();
  CheckSummary(first, "failed", {.instances = 1, .ran = 0, .failed = 1});
  std::string partial = FirstLine(work_ / "half_paths.txt");
  EXPECT_THAT(partial, StartsWith(".flow/tmp/")) << "{out} is not a temporary path";
  EXPECT_EQ(ReadFile(work_ / partial), "half\n") << "the failed attempt's output is kept for inspection";
  EXPECT_THAT(NonFolders(work_ / ".flow" / "out"), ::testing::IsEmpty()) << "a failed attempt committed something";

  // The next run starts with .flow/tmp empty: the same attempt, which gets
  // the same path (same slot, same key), must not find the old output there.
  Result second = Run("partial");
  ASSERT_EQ(second.code, 1) << second.Describe();
  EXPECT_FALSE(fs::exists(work_ / "stale.log")) << "the second run's attempt found at its path: " << ReadFile(work_ / "stale.log");
  EXPECT_EQ(Lines(ReadFile(work_ / "half_paths.txt")).size(), 2u);

  // A run of other stages removes what both failed attempts left.
  Result other = Run("main");
  ASSERT_EQ(other.code, 0) << other.Describe();
  for (const auto& path : Lines(ReadFile(work_ / "half_paths.txt")))
    EXPECT_FALSE(fs::exists(work_ / path)) << path << " survived the start of the next run";
  EXPECT_THAT(NonFolders(tmp()), ::testing::IsEmpty());
}

TEST_F(TmpE2E, SuccessfulRunCommitsIntoTheStageFolderAndLeavesNothingInTmp) {
  Result r = Run("main");
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 4, .ran = 4, .failed = 0});

  // The command and its env block saw the temporary path; the next stage
  // the committed one, with the same name in the stage's folder.
  std::string written = FirstLine(work_ / "make_out.txt");
  EXPECT_THAT(written, StartsWith(".flow/tmp/"));
  EXPECT_EQ(FirstLine(work_ / "make_env.txt"), written) << "the env block saw another path than the command";
  EXPECT_THAT(FirstLine(work_ / "make_n.txt"), StartsWith(".flow/tmp/"));
  std::string committed = FirstLine(work_ / "use_src.txt");
  EXPECT_THAT(committed, StartsWith(".flow/out/make/"));
  EXPECT_EQ(fs::path(committed).filename(), fs::path(written).filename());
  EXPECT_EQ(ReadFile(work_ / committed), "made\n");
  EXPECT_FALSE(fs::exists(work_ / written)) << "the temporary output was copied, not moved";
  EXPECT_EQ(ReadFile(work_ / "used.txt"), "made\n7\n");
  RunStore store(Db());
  std::string outputs = store.Scalar("SELECT outputs FROM instances WHERE run_id = ? AND name = 'make'", {std::to_string(s.run)});
  EXPECT_EQ(JsonStringField(outputs, "out"), committed) << outputs;

  // The dir output: made in .flow/tmp, moved whole into .flow/out/mkd.
  std::string dir_written = FirstLine(work_ / "mkd_path.txt");
  std::string dir_committed = FirstLine(work_ / "lsd_path.txt");
  EXPECT_THAT(dir_written, StartsWith(".flow/tmp/"));
  EXPECT_THAT(dir_committed, StartsWith(".flow/out/mkd/"));
  EXPECT_EQ(fs::path(dir_committed).filename(), fs::path(dir_written).filename());
  EXPECT_EQ(ReadFile(work_ / "lsd.txt"), "inside\ndeep\n");
  EXPECT_THAT(NonFolders(work_ / dir_committed), ElementsAre("f.txt", "sub/g.txt"));
  EXPECT_FALSE(fs::exists(work_ / dir_written));

  EXPECT_THAT(NonFolders(tmp()), ::testing::IsEmpty()) << "a successful run left outputs in .flow/tmp";

  // The committed outputs are what a second run reuses.
  Result again = Run("main");
  ASSERT_EQ(again.code, 0) << again.Describe();
  CheckSummary(again, "succeeded", {.instances = 4, .ran = 0, .cached = 4});
  EXPECT_EQ(ReadFile(work_ / committed), "made\n");
  EXPECT_THAT(NonFolders(tmp()), ::testing::IsEmpty());
}

TEST_F(TmpE2E, RetriedStageWritesEachAttemptInAFolderOfItsOwnAndCommitsTheSuccess) {
  Result r = Run("retried");
  ASSERT_EQ(r.code, 0) << r.Describe();
  Summary s = CheckSummary(r, "succeeded", {.instances = 2, .ran = 2, .failed = 0});
  RunStore store(Db());
  auto attempts = store.Query(
      "SELECT attempt, status FROM attempts WHERE run_id = ? AND instance = 'flakydir' ORDER BY attempt",
      {std::to_string(s.run)});
  EXPECT_EQ(attempts, (std::vector<RunStore::Row>{{"1", "failed"}, {"2", "succeeded"}}));

  // The retry's `mkdir {d}` (no -p) succeeded: it did not find the first
  // attempt's folder at its path.
  auto paths = Lines(ReadFile(work_ / "flakydir_paths.txt"));
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_THAT(paths[0], StartsWith(".flow/tmp/"));
  EXPECT_THAT(paths[1], StartsWith(".flow/tmp/"));
  EXPECT_NE(paths[0], paths[1]) << "the retry wrote where the failed attempt's output is kept";
  EXPECT_EQ(ReadFile(work_ / paths[0] / "a.txt"), "attempt 1\n") << "the failed attempt's output is kept";
  EXPECT_FALSE(fs::exists(work_ / paths[1])) << "the successful attempt's output was not moved";

  std::string committed = FirstLine(work_ / "la_path.txt");
  EXPECT_THAT(committed, StartsWith(".flow/out/flakydir/"));
  EXPECT_EQ(ReadFile(work_ / committed / "a.txt"), "attempt 2\n");
  EXPECT_EQ(ReadFile(work_ / "la.txt"), "attempt 2\n");

  // The next run removes the failed attempt's folder, not the committed one.
  Result next = Run("main");
  ASSERT_EQ(next.code, 0) << next.Describe();
  EXPECT_FALSE(fs::exists(work_ / paths[0]));
  EXPECT_EQ(ReadFile(work_ / committed / "a.txt"), "attempt 2\n");
}

TEST_F(TmpE2E, CancelledRunKeepsThePartialOutputAndTheNextRunRemovesIt) {
  Process p = Start({"run", file_.string(), "--entry", "cancelled"});
  ASSERT_TRUE(p.started());
  std::string partial;
  ASSERT_TRUE(WaitFor(
      [&] {
        partial = FirstLine(work_ / "slow_path.txt");
        return p.Exited() || (!partial.empty() && ReadFile(work_ / partial) == "partial\n");
      },
      20))
      << "the slow stage never wrote its partial output";
  ASSERT_FALSE(p.Exited()) << p.Wait(1).Describe();
  EXPECT_THAT(partial, StartsWith(".flow/tmp/"));
  p.Signal(SIGINT);
  Result r = p.Wait(20);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.code, 130) << r.Describe();
  CheckSummary(r, "cancelled", {.instances = 1, .ran = 0});
  EXPECT_EQ(ReadFile(work_ / partial), "partial\n") << "the cancelled attempt's output is kept for inspection";
  EXPECT_THAT(NonFolders(work_ / ".flow" / "out"), ::testing::IsEmpty()) << "a cancelled attempt committed something";

  Result next = Run("main");
  ASSERT_EQ(next.code, 0) << next.Describe();
  EXPECT_FALSE(fs::exists(work_ / partial)) << "the cancelled attempt's output survived the next run's start";
  EXPECT_THAT(NonFolders(tmp()), ::testing::IsEmpty());
}

TEST_F(TmpE2E, RemovingTmpRemovesLinksNotWhatTheyPointTo) {
  WriteFile(work_ / "keep" / "precious.txt", "precious\n");
  Result r = Run("links");
  ASSERT_EQ(r.code, 1) << r.Describe();
  auto left = NonFolders(tmp());
  ASSERT_EQ(left.size(), 2u) << "expected the failed attempt's two links in .flow/tmp";

  Result next = Run("main");
  ASSERT_EQ(next.code, 0) << next.Describe();
  EXPECT_THAT(NonFolders(tmp()), ::testing::IsEmpty());
  EXPECT_EQ(ReadFile(work_ / "keep" / "precious.txt"), "precious\n")
      << "removing .flow/tmp followed a link a command left there";
}

// .flow/out on another filesystem than .flow/tmp (here a link to a folder in
// /dev/shm): rename(2) cannot cross filesystems, so that stage's attempts
// write under .flow/out/STAGE/.tmp-slots instead, and commit as usual.
TEST_F(TmpE2E, OutputFolderOnAnotherFilesystemStillCommits) {
  struct stat shm, here;
  if (stat("/dev/shm", &shm) != 0 || stat(work_.c_str(), &here) != 0 || shm.st_dev == here.st_dev)
    GTEST_SKIP() << "no /dev/shm on another filesystem than " << work_;
  char tmpl[] = "/dev/shm/flow_e2e_out.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  fs::path elsewhere = tmpl;
  fs::create_directories(work_ / ".flow");
  fs::create_directory_symlink(elsewhere, work_ / ".flow" / "out");
  Result r = Run("main");
  EXPECT_EQ(r.code, 0) << r.Describe();
  std::string written = FirstLine(work_ / "make_out.txt");
  EXPECT_THAT(written, StartsWith(".flow/out/make/.tmp-slots/")) << "the attempt did not write next to its stage folder";
  EXPECT_EQ(ReadFile(work_ / "used.txt"), "made\n7\n");
  EXPECT_EQ(ReadFile(work_ / "lsd.txt"), "inside\ndeep\n");
  // A rerun removes the slot folders and reuses everything.
  Result again = Run("main");
  EXPECT_EQ(again.code, 0) << again.Describe();
  CheckSummary(again, "succeeded", {.instances = 4, .ran = 0, .failed = 0});
  EXPECT_FALSE(fs::exists(elsewhere / "make" / ".tmp-slots"));
  fs::remove_all(elsewhere);
}

// A value output may name files inside the stage's own `dir` output (the
// usual "split into chunks" stage returning a list<file>). The command only
// knows its temporary paths, under .flow/tmp; those paths get the final
// names at commit, in the form the command wrote them, so the instances
// that read them find them (they failed with "cannot read .flow/tmp/...").
TEST_F(RunE2E, PathsInsideValueOutputsFollowTheCommittedFolder) {
  fs::path file = Use("split.flow");
  for (const char* entry : {"main", "absolute"}) {
    SCOPED_TRACE(entry);
    fs::remove(work_ / "seen.txt");
    fs::remove(work_ / "listed.txt");
    Result r = Flow({"run", file.string(), "--entry", entry});
    ASSERT_EQ(r.code, 0) << r.Describe();
    CheckSummary(r, "succeeded", {.instances = 4, .ran = 4, .failed = 0});
    auto seen = Lines(ReadFile(work_ / "seen.txt"));
    ASSERT_EQ(seen.size(), 4u) << ReadFile(work_ / "seen.txt");
    std::string prefix = std::string(entry) == std::string("absolute") ? (work_ / ".flow/out/split/").string() : ".flow/out/split/";
    std::sort(seen.begin(), seen.end());
    EXPECT_THAT(seen, ElementsAre(StartsWith(prefix), StartsWith(prefix), "a", "b"));
    EXPECT_EQ(ReadFile(work_ / "listed.txt"), "a.txt\nb.txt\n") << "the record's dir field was not renamed";
  }
  // Rerun: everything is reused, and the reused values still lead to the files.
  Result again = Flow({"run", file.string()});
  EXPECT_EQ(again.code, 0) << again.Describe();
  CheckSummary(again, "succeeded", {.instances = 4, .ran = 0, .cached = 4, .failed = 0});
  EXPECT_FALSE(fs::exists(work_ / ".flow/tmp/0/a.txt"));
}

// Paths the command names by another spelling of the same place are
// understood: its real path, when the project's path as flow was given it
// goes through a link (flow run from outside, through the link), or when
// .flow/out lies on another filesystem.
TEST_F(RunE2E, PathsInsideValueOutputsSpelledByTheirRealPathFollowTheCommit) {
  fs::path file = Use("split.flow");
  fs::create_directories(work_ / "real");
  fs::rename(file, work_ / "real" / "split.flow");
  fs::create_directory_symlink(work_ / "real", work_ / "link");
  Result r = Flow({"run", "link/split.flow", "--entry", "real_paths"}, work_);
  ASSERT_EQ(r.code, 0) << r.Describe();
  auto seen = Lines(ReadFile(work_ / "real" / "seen.txt"));
  ASSERT_EQ(seen.size(), 2u) << ReadFile(work_ / "real" / "seen.txt");
  EXPECT_THAT(seen[0], HasSubstr("/.flow/out/real_split/")) << "not renamed: " << seen[0];
  EXPECT_EQ(seen[1], "r");
  Result r2 = Flow({"run", "link/split.flow", "--entry", "absolute"}, work_);
  EXPECT_EQ(r2.code, 0) << r2.Describe();
}

// A path in the attempt's temporary folder but in none of its outputs (a
// file beside an output) would be gone after the commit: the producer fails.
TEST_F(RunE2E, ValueOutputNamingAFileBesideTheOutputsFailsItsProducer) {
  fs::path file = Use("split.flow");
  Result r = Flow({"run", file.string(), "--entry", "beside_outputs"});
  ASSERT_EQ(r.code, 1) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("beside: output 'files': it names ")) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("in none of its outputs")) << r.Describe();
}

// Each path named in a value output must exist when the command ends: the
// producer fails, naming the output and the path, not its consumer.
TEST_F(RunE2E, ValueOutputNamingAMissingFileFailsItsProducer) {
  fs::path file = Use("split.flow");
  Result r = Flow({"run", file.string(), "--entry", "dangling"});
  ASSERT_EQ(r.code, 1) << r.Describe();
  CheckSummary(r, "failed", {.instances = 1, .ran = 0, .failed = 1});
  EXPECT_THAT(r.err, HasSubstr("liar: output 'files': it names the file nowhere.txt, which does not exist"));
  // A path outside the stage's folder (here the project's own file) is
  // checked and kept as it is.
  Result outside = Flow({"run", file.string(), "--entry", "outside"});
  ASSERT_EQ(outside.code, 0) << outside.Describe();
  EXPECT_EQ(ReadFile(work_ / "seen.txt"), "own.txt\nmine\n");
}

// A dry run writes nothing, not even the JSON file of a structured value
// that it shows in the command (it used to create .flow/values/...).
TEST_F(RunE2E, DryRunWritesNothingInAFreshFolder) {
  fs::path file = Use("dry_values.flow");
  Result dry = Flow({"run", file.string(), "--dry-run"});
  ASSERT_EQ(dry.code, 0) << dry.Describe();
  EXPECT_THAT(dry.out + dry.err, HasSubstr("cat .flow/values/")) << dry.Describe();
  EXPECT_FALSE(fs::exists(work_ / ".flow")) << "the dry run created .flow/";
  EXPECT_THAT(dry.out + dry.err, HasSubstr("show (no earlier result)")) << dry.Describe();
  // The real run writes the file and the command reads it.
  Result real = Flow({"run", file.string()});
  ASSERT_EQ(real.code, 0) << real.Describe();
  // A dry run says why an instance would run again: what changed in its
  // cache key since its last result, as `flow why` would.
  Result changed = Flow({"run", file.string(), "--dry-run", "--param", "xs=[[4]]"});
  ASSERT_EQ(changed.code, 0) << changed.Describe();
  EXPECT_THAT(changed.out + changed.err, HasSubstr("show (since run 1: input 'xs' changed: [[1],[2,3]] -> [[4]])"))
      << changed.Describe();
}

}  // namespace
}  // namespace flow::e2e
