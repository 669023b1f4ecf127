// Spool directories: file names, the spool's lock, a route's per-process spools, adoption
// of one whose process is gone, refusal of a live one, and removal.
#include "sink/spool_directory.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include "sink/sink_stats.h"
#include "sink/spool.h"
#include "tests/support/temp_dir.h"

namespace mcptap::sink {
namespace {

namespace fs = std::filesystem;

using test_support::TempDir;

void touch(const std::string& path) {
  std::ofstream(path) << "x";
}

SinkOptions options_in(const std::string& dir) {
  SinkOptions options;
  options.spool_dir = dir;
  options.fsync_interval_ms = 20;
  return options;
}

TEST(SpoolDirectoryTest, SpoolFilesAreSegmentsAndTheCheckpoint) {
  EXPECT_TRUE(is_spool_file_name(segment_file_name(42)));
  EXPECT_TRUE(is_spool_file_name(kCheckpointFileName));
  EXPECT_TRUE(is_spool_file_name(kCheckpointTempFileName));
  EXPECT_FALSE(is_spool_file_name(kSpoolLockFileName));
  EXPECT_FALSE(is_spool_file_name("stdio.lock"));
  EXPECT_FALSE(is_spool_file_name("notes.txt"));
}

// The spool takes its lock under the name this file declares; a second taker is refused
// and told who holds it.
TEST(SpoolDirectoryTest, ASpoolHoldsItsLockFile) {
  TempDir dir;
  SinkStats stats;
  {
    Spool spool(options_in(dir.path()), stats);
    ASSERT_TRUE(spool.usable());
    EXPECT_TRUE(fs::exists(dir.path() + "/" + std::string(kSpoolLockFileName)));
    SpoolProblem problem;
    EXPECT_LT(open_lock_file(dir.path() + "/" + std::string(kSpoolLockFileName), &problem), 0);
    EXPECT_TRUE(problem.locked);
    EXPECT_NE(problem.reason.find("pid " + std::to_string(::getpid())), std::string::npos);
    EXPECT_FALSE(StdioSpools::abandoned(dir.path()));
  }
  EXPECT_TRUE(StdioSpools::abandoned(dir.path()));
}

TEST(SpoolDirectoryTest, ARouteHasItsOwnRootAndEachProcessItsOwnDirectory) {
  EXPECT_EQ(StdioSpools::for_route("/var/spool/mcptap//", "hop").root(),
            "/var/spool/mcptap-stdio-hop");
  StdioSpools spools("/var/spool/mcptap-stdio-hop");
  const std::string dir = spools.new_process_dir();
  EXPECT_TRUE(std::regex_match(dir, std::regex("/var/spool/mcptap-stdio-hop/" +
                                               std::to_string(::getpid()) + "-[0-9a-f]{8}")))
      << dir;
  EXPECT_NE(spools.new_process_dir(), dir);
}

// Only process spools whose owner is gone are adopted: a directory without a lock (its
// process died before taking it) or with a lock nobody holds; never one a live process
// holds, never this process's own, never anything else in the route directory.
TEST(SpoolDirectoryTest, OnlyAbandonedProcessSpoolsAreAdopted) {
  TempDir dir;
  StdioSpools spools(dir.path() + "/route");
  auto lock = spools.lock();
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  const std::string dead = spools.root() + "/4000000-0badcafe";
  const std::string unlocked = spools.root() + "/4000001-00000001";
  const std::string live = spools.root() + "/4000002-00000002";
  const std::string own = spools.new_process_dir();
  for (const std::string& path : {dead, unlocked, live, own, spools.root() + "/other"}) {
    fs::create_directories(path);
  }
  touch(dead + "/" + std::string(kSpoolLockFileName));  // written by a process now gone
  touch(dead + "/" + segment_file_name(1));
  SinkStats stats;
  Spool held(options_in(live), stats);
  ASSERT_TRUE(held.usable());

  std::vector<std::string> candidates = spools.candidates(own);
  EXPECT_EQ(candidates, (std::vector<std::string>{dead, unlocked, live}));
  EXPECT_TRUE(StdioSpools::abandoned(dead));
  EXPECT_TRUE(StdioSpools::abandoned(unlocked));
  EXPECT_FALSE(StdioSpools::abandoned(live));

  // A spool an older mcptap left in the root itself is a candidate too.
  touch(spools.root() + "/" + segment_file_name(7));
  candidates = spools.candidates(own);
  EXPECT_EQ(candidates.front(), spools.root());
}

// A delivered process spool goes entirely; the root keeps everything but spool files.
TEST(SpoolDirectoryTest, RemovalTakesOnlyTheSpool) {
  TempDir dir;
  StdioSpools spools(dir.path() + "/route");
  auto lock = spools.lock();
  ASSERT_TRUE(lock.ok());
  const std::string process = spools.root() + "/4000000-0badcafe";
  fs::create_directories(process);
  touch(process + "/" + segment_file_name(1));
  touch(spools.root() + "/" + segment_file_name(3));
  touch(spools.root() + "/" + std::string(kCheckpointFileName));
  touch(spools.root() + "/notes.txt");

  spools.remove(process);
  EXPECT_FALSE(fs::exists(process));
  spools.remove(spools.root());
  EXPECT_FALSE(fs::exists(spools.root() + "/" + segment_file_name(3)));
  EXPECT_FALSE(fs::exists(spools.root() + "/" + std::string(kCheckpointFileName)));
  EXPECT_TRUE(fs::exists(spools.root() + "/notes.txt"));
  EXPECT_TRUE(fs::exists(spools.root() + "/stdio.lock"));
}

// The route lock is held by one process at a time; a holder that keeps it is named, after
// a bounded wait, instead of a hang.
TEST(SpoolDirectoryTest, ALockHeldTooLongIsRefusedWithAReason) {
  TempDir dir;
  StdioSpools spools(dir.path() + "/route");
  auto first = spools.lock();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(fs::status(spools.root()).permissions() & fs::perms::all, fs::perms::owner_all);
  auto began = std::chrono::steady_clock::now();
  auto second = spools.lock();
  ASSERT_FALSE(second.ok());
  EXPECT_GE(std::chrono::steady_clock::now() - began, StdioSpools::kLockWait);
  EXPECT_EQ(second.error().code, "locked");
  EXPECT_EQ(second.error().message,
            spools.root() + "/stdio.lock: locked by another mcptap process (pid " +
                std::to_string(::getpid()) +
                ") for over 3 s (every mcptap stdio of the route takes it for a moment; stop "
                "that process if it hangs, or use another --route)");
}

TEST(SpoolDirectoryTest, AnUnusableRootIsNamed) {
  TempDir dir;
  touch(dir.path() + "/file");
  auto lock = StdioSpools(dir.path() + "/file/route").lock();
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().message.rfind("stdio spool directory " + dir.path() + "/file/route: ", 0),
            0u)
      << lock.error().message;
}

}  // namespace
}  // namespace mcptap::sink
