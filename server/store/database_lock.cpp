#include "server/store/database_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/store/history_store.hpp"

namespace chatd {

namespace {

// The pid the holder wrote into the lock file: digits only, or "" if there are none (yet).
std::string holder_pid(int fd) {
  char buffer[24];
  const ssize_t got = ::pread(fd, buffer, sizeof buffer, 0);
  std::string pid;
  for (ssize_t i = 0; i < got && buffer[i] >= '0' && buffer[i] <= '9'; ++i) pid.push_back(buffer[i]);
  return pid;
}

}  // namespace

// flock rather than SQLite's own locking: SQLite's exclusive mode is taken only at the first write (after
// the reads that decide whether ids must skip), a second opener would wait out the busy timeout, and
// it would lock out the read-only `sqlite3` an operator uses to look at a live database. flock is
// released by the kernel when the process ends in any way, kill -9 included, so a stale lock file never
// keeps a server from starting; the file itself stays (removing it would race a starting server).
DatabaseLock::DatabaseLock(const std::string& database_path) {
  const std::string lock_path = database_path + ".lock";
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw StoreError("history.path '" + database_path + "': cannot open the lock file " + lock_path + ": " +
                     std::strerror(errno));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    const std::string holder = error == EWOULDBLOCK ? holder_pid(fd_) : "";
    ::close(fd_);
    fd_ = -1;
    if (error != EWOULDBLOCK) {
      throw StoreError("history.path '" + database_path + "': cannot lock " + lock_path + ": " +
                       std::strerror(error));
    }
    throw StoreError("history.path '" + database_path + "' is in use by another chatd" +
                     (holder.empty() ? "" : " (pid " + holder + ")"));
  }
  // Who holds it, for the message above. Best effort: should writing fail, a second server is still
  // refused, only without the pid.
  const std::string pid = std::to_string(::getpid()) + "\n";
  [[maybe_unused]] const bool written =
      ::ftruncate(fd_, 0) == 0 &&
      ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
}

DatabaseLock::~DatabaseLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace chatd
