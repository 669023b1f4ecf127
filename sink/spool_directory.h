// Spool directories on disk: the names of the files in one, its private mode and its lock,
// and the per-process spools of a route's stdio processes (created, adopted once their
// process is gone, and removed once delivered).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "sink/spool_segment.h"

namespace mcptap::sink {

// Held by the process that owns the spool (the holder writes its pid in it).
inline constexpr std::string_view kSpoolLockFileName = "lock";
// The checkpoint is written here, then renamed over kCheckpointFileName.
inline constexpr std::string_view kCheckpointTempFileName = "checkpoint.tmp";

// The fixes a start-up error suggests for a directory that cannot be written or is full.
inline constexpr const char* kSpoolWritableFix =
    "run as a user that can write there, or set sink.spool_dir to a writable directory";
inline constexpr const char* kSpoolSpaceFix =
    "free space there, or set sink.spool_dir to another filesystem";

// A segment, the checkpoint or its temporary: what a spool consists of, and all that may
// be removed from a directory that also holds other files.
bool is_spool_file_name(std::string_view name);

// Why a spool directory cannot be used, worded for the one line a start-up error prints:
// "<dir>: <reason> (<fix>)". Empty when the directory is fine.
struct SpoolProblem {
  std::string reason;   // e.g. "permission denied creating it"
  std::string fix;      // e.g. "run as a user that can write there, or set sink.spool_dir ..."
  bool locked = false;  // another process holds the lock (the one case worth retrying)
  bool empty() const { return reason.empty(); }
  std::string text() const { return reason + " (" + fix + ")"; }
};

// Files holding captured data are private to the service user, as PostgreSQL insists for
// its data directory. Creates `dir` and any missing parent as 0700 whatever the umask; an
// existing directory must not be writable by group or others (another user could plant
// or swap files in it), and one of ours is tightened to 0700.
SpoolProblem prepare_private_directory(const std::string& dir);
// Opens (creating it 0600) a lock file in a directory prepared as above, tightens an older
// one to 0600, and takes its flock without blocking. Returns the descriptor, or -1 with
// *problem saying why (a holder is named by the pid it wrote in the file).
int open_lock_file(const std::string& path, SpoolProblem* problem);

// Narrows a file of ours that is wider than `mode` (files an older mcptap wrote were 0644).
void tighten_file_mode(int fd, mode_t mode);

// An flock held on a lock file; released when destroyed.
class HeldLock {
 public:
  explicit HeldLock(int fd) : fd_(fd) {}
  HeldLock(HeldLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  HeldLock& operator=(HeldLock&&) = delete;
  HeldLock(const HeldLock&) = delete;
  ~HeldLock();

 private:
  int fd_;
};

// The spools of one route's stdio processes. A spool belongs to one process (it is
// locked), and an MCP host may start several hops with the same route at once, so each
// process spools into a directory of its own, <root>/<pid>-<8 hex digits>. Directories are
// created, probed, adopted and removed under the route directory's lock, so a spool is
// never taken for abandoned between its creation and its own lock, nor removed while
// another process probes it. A spool an older mcptap left directly in the root is adopted
// the same way.
class StdioSpools {
 public:
  // How long lock() waits for another process of the route before giving up.
  static constexpr auto kLockWait = std::chrono::milliseconds(3000);

  // The route's spools live beside the sidecar's: <spool_dir>-stdio-<route>.
  static StdioSpools for_route(std::string_view spool_dir, std::string_view route);
  explicit StdioSpools(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  // A fresh directory name for this process's spool (not created).
  std::string new_process_dir() const;

  // Creates the root (private) and takes its lock, retrying for kLockWait: a holder that
  // keeps it longer (hung, or not an mcptap at all) gives a clear error instead of a hang.
  base::Result<HeldLock> lock() const;

  // Under the lock: the spools other than `own_dir` that may be abandoned (process
  // directories, and the root when it holds spool files), in name order.
  std::vector<std::string> candidates(const std::string& own_dir) const;
  // Under the lock: no process holds the spool's own lock (its owner is gone).
  static bool abandoned(const std::string& dir);
  // Under the lock, by the process holding the spool's own lock, once everything in it is
  // in PostgreSQL. The root itself keeps its other files.
  void remove(const std::string& dir) const;

 private:
  std::string root_;
};

}  // namespace mcptap::sink
