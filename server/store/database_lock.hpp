// One database, one chatd: an exclusive lock on "<history.path>.lock", taken before the server binds its
// port or reads the database, and held for the whole run. A second chatd started on the same database
// stops at once, names the first one, and has touched nothing.
#pragma once

#include <string>

namespace chatd {

class DatabaseLock {
 public:
  // Throws StoreError: "history.path 'P' is in use by another chatd (pid N)", or the lock file cannot
  // be made.
  explicit DatabaseLock(const std::string& database_path);
  ~DatabaseLock();
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace chatd
