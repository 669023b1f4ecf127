// Spool directories: file names, private mode, the spool's lock, and the per-process spools
// of a route's stdio processes.
#include "sink/spool_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "base/log.h"
#include "base/random.h"

namespace mcptap::sink {
namespace {

constexpr std::string_view kRouteLockFileName = "stdio.lock";
constexpr auto kRouteLockRetry = std::chrono::milliseconds(10);

SpoolProblem creation_problem(int error_number, const std::string& component,
                              const std::string& dir) {
  switch (error_number) {
    case EACCES:
    case EPERM:
      return {"permission denied creating it", kSpoolWritableFix};
    case EEXIST:
    case ENOTDIR:
      return {component == dir ? "not a directory" : component + " is not a directory",
              "set sink.spool_dir to a directory"};
    case EROFS:
      return {"read-only file system", kSpoolWritableFix};
    case ENOSPC:
    case EDQUOT:
      return {"no space left on device creating it", kSpoolSpaceFix};
    default:
      return {std::string("cannot create it: ") + std::strerror(error_number), kSpoolWritableFix};
  }
}

// mkdir -p with 0700 for every directory it creates, whatever the umask.
SpoolProblem make_directories(const std::string& dir) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string component = dir.substr(0, slash);
    struct stat status {};
    if (::mkdir(component.c_str(), 0700) == 0) {
      ::chmod(component.c_str(), 0700);
    } else if (errno != EEXIST) {
      return creation_problem(errno, component, dir);
    } else if (slash != std::string::npos && ::stat(component.c_str(), &status) == 0 &&
               !S_ISDIR(status.st_mode)) {
      return creation_problem(ENOTDIR, component, dir);  // names the part that is a file
    }
    if (slash == std::string::npos) return {};
  }
}

// The pid a lock's holder wrote in it, when that process still runs; 0 otherwise.
pid_t lock_holder(int fd) {
  char text[32] = {};
  if (::pread(fd, text, sizeof text - 1, 0) <= 0) return 0;
  const long pid = std::strtol(text, nullptr, 10);
  if (pid <= 0 || (::kill(pid_t(pid), 0) != 0 && errno != EPERM)) return 0;
  return pid_t(pid);
}

// A process's spool directory: <pid>-<8 hex digits>. Nothing else in the route directory is
// ever adopted, let alone removed.
bool is_process_spool_name(const std::string& name) {
  const size_t dash = name.find('-');
  if (dash == 0 || dash == std::string::npos || name.size() - dash - 1 != 8) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (i < dash ? !std::isdigit(c) : i > dash && !std::isxdigit(c)) return false;
  }
  return true;
}

}  // namespace

bool is_spool_file_name(std::string_view name) {
  return segment_seq_of(name).has_value() || name == kCheckpointFileName ||
         name == kCheckpointTempFileName;
}

// Ours and wider than `mode`: narrowed (files written by an older mcptap were 0644).
void tighten_file_mode(int fd, mode_t mode) {
  struct stat status {};
  if (::fstat(fd, &status) == 0 && status.st_uid == ::geteuid() &&
      (status.st_mode & 07777) != mode) {
    ::fchmod(fd, mode);
  }
}

SpoolProblem prepare_private_directory(const std::string& dir) {
  if (dir.empty()) return {"empty path", "set sink.spool_dir to a directory"};
  if (SpoolProblem problem = make_directories(dir); !problem.empty()) return problem;
  struct stat status {};
  if (::stat(dir.c_str(), &status) != 0) return creation_problem(errno, dir, dir);
  if (!S_ISDIR(status.st_mode)) return {"not a directory", "set sink.spool_dir to a directory"};
  if (status.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "0%o", unsigned(status.st_mode & 07777));
    return {std::string("writable by group or others (mode ") + mode +
                "), so another user could read or replace captured data",
            "chmod 700 it, or set sink.spool_dir to a directory only mcptap's user can write"};
  }
  if ((status.st_mode & 077) != 0 && status.st_uid == ::geteuid()) {
    ::chmod(dir.c_str(), 0700);
    base::log_info("spool directory was readable by other users; now 0700",
                   {{"component", "spool"}, {"spool_dir", dir}});
  }
  return {};
}

int open_lock_file(const std::string& path, SpoolProblem* problem) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    const int error_number = errno;
    *problem = error_number == EACCES || error_number == EPERM
                   ? SpoolProblem{"permission denied writing in it", kSpoolWritableFix}
                   : SpoolProblem{
                         std::string("cannot create its lock file: ") + std::strerror(error_number),
                         kSpoolWritableFix};
    return -1;
  }
  tighten_file_mode(fd, 0600);
  int status;
  do status = ::flock(fd, LOCK_EX | LOCK_NB);
  while (status != 0 && errno == EINTR);
  if (status != 0) {
    const int error_number = errno;
    if (error_number == EWOULDBLOCK) {
      const pid_t holder = lock_holder(fd);
      *problem = {"locked by another mcptap process" +
                      (holder > 0 ? " (pid " + std::to_string(holder) + ")" : std::string()),
                  "stop that process, or give this one a sink.spool_dir of its own", true};
    } else {
      *problem = {std::string("cannot lock it: ") + std::strerror(error_number), kSpoolWritableFix};
    }
    ::close(fd);
    return -1;
  }
  // Names the holder for the next process that finds the lock taken.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return fd;
}

HeldLock::~HeldLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

// ---- A route's stdio spools -------------------------------------------------------------

StdioSpools StdioSpools::for_route(std::string_view spool_dir, std::string_view route) {
  while (spool_dir.size() > 1 && spool_dir.back() == '/') spool_dir.remove_suffix(1);
  return StdioSpools(std::string(spool_dir) + "-stdio-" + std::string(route));
}

std::string StdioSpools::new_process_dir() const {
  uint32_t random;
  base::random_bytes(&random, sizeof(random));
  char suffix[9];
  std::snprintf(suffix, sizeof(suffix), "%08x", random);
  return root_ + "/" + std::to_string(::getpid()) + "-" + suffix;
}

// Taken without blocking and retried: each stdio process of the route holds it a moment.
base::Result<HeldLock> StdioSpools::lock() const {
  using Clock = std::chrono::steady_clock;
  SpoolProblem problem = prepare_private_directory(root_);
  if (!problem.empty()) return base::fail("stdio spool directory " + root_ + ": " + problem.text());
  const std::string path = root_ + "/" + std::string(kRouteLockFileName);
  const Clock::time_point give_up = Clock::now() + kLockWait;
  int fd = -1;
  while ((fd = open_lock_file(path, &problem)) < 0 && problem.locked && Clock::now() < give_up) {
    std::this_thread::sleep_for(kRouteLockRetry);
  }
  if (fd >= 0) return HeldLock(fd);
  if (problem.locked) {
    problem.reason += " for over " + std::to_string(kLockWait.count() / 1000) + " s";
    problem.fix =
        "every mcptap stdio of the route takes it for a moment; stop that process if "
        "it hangs, or use another --route";
  }
  return base::fail(path + ": " + problem.text(), problem.locked ? "locked" : "");
}

std::vector<std::string> StdioSpools::candidates(const std::string& own_dir) const {
  std::vector<std::string> found;
  std::error_code error;
  bool root_has_spool = false;
  for (const auto& entry : std::filesystem::directory_iterator(root_, error)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory(error)) {
      if (is_process_spool_name(name) && entry.path().string() != own_dir) {
        found.push_back(entry.path().string());
      }
    } else if (is_spool_file_name(name)) {
      root_has_spool = true;
    }
  }
  if (root_has_spool) found.push_back(root_);
  std::sort(found.begin(), found.end());
  return found;
}

bool StdioSpools::abandoned(const std::string& dir) {
  const std::string path = dir + "/" + std::string(kSpoolLockFileName);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    // No lock file: a process that died between creating the directory and locking it.
    std::error_code error;
    return errno == ENOENT && std::filesystem::is_directory(dir, error);
  }
  const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

void StdioSpools::remove(const std::string& dir) const {
  std::error_code error;
  if (dir != root_) {
    std::filesystem::remove_all(dir, error);
  } else {
    for (const auto& entry : std::filesystem::directory_iterator(root_, error)) {
      if (entry.is_regular_file(error) && is_spool_file_name(entry.path().filename().string())) {
        std::filesystem::remove(entry.path(), error);
      }
    }
  }
  if (error) {
    base::log_warn("stdio: cannot remove a delivered spool",
                   {{"spool_dir", dir}, {"error", error.message()}});
  }
}

}  // namespace mcptap::sink
