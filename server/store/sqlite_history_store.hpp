// history.store: sqlite. One database file in WAL mode; one writer thread commits what the rooms
// append, in batches, so a room never waits for the disk.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/store/history_store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace chatd {

class SqliteHistoryStore : public HistoryStore {
 public:
  // Opens (or creates) history.path and starts the writer. Throws StoreError, naming the file.
  explicit SqliteHistoryStore(const config::History& settings);
  ~SqliteHistoryStore() override;

  RoomHistory load(const std::string& room) override;
  bool knows(const std::string& room) override;
  void append(const std::string& room, std::vector<SharedEvent> events, std::uint64_t kept_from,
              Committed committed) override;
  void close() override;
  std::size_t pending_events() override;
  std::string failure() override;

  // After a run that did not close the store, every room's ids jump ahead by this much: no id a client
  // may have seen before the crash is given to another event. It is also the most events the writer
  // holds: beyond it, appends are refused (and logged) rather than growing memory without bound.
  static constexpr std::uint64_t max_pending_events = 100000;

 private:
  struct Pending {
    std::string room;
    std::vector<SharedEvent> events;
    std::uint64_t kept_from = 0;
    Committed committed;
  };
  class Statement;

  void open_schema();
  void run_writer();
  bool commit(const std::vector<Pending>& batch);  // one transaction; false (logged) when it failed
  // Writer thread, under db_mutex_, inside commit's transaction. Throw StoreError.
  void insert_events(const std::vector<Pending>& batch);
  void step_and_reset(sqlite3_stmt* statement);
  void exec(const char* sql);
  sqlite3_stmt* prepare(const char* sql);
  void finalize_statements();  // the prepared statements below, each then null
  [[noreturn]] void fail(const std::string& what);

  const config::History settings_;
  sqlite3* db_ = nullptr;
  std::mutex db_mutex_;  // one connection: the writer's commits, and loads when rooms are made
  sqlite3_stmt* insert_event_ = nullptr;        // one row
  sqlite3_stmt* insert_events_ = nullptr;       // rows_per_insert rows
  sqlite3_stmt* save_last_id_ = nullptr;        // rooms.last_id from the room's newest row, before a trim
  sqlite3_stmt* save_aged_last_ids_ = nullptr;  // the same for every room, before the age trim
  sqlite3_stmt* trim_room_ = nullptr;
  sqlite3_stmt* trim_age_ = nullptr;
  std::chrono::steady_clock::time_point last_age_trim_{};
  // Writer thread, under db_mutex_: the room's events below this id are deleted (committed). A room whose
  // retained window has not moved needs no DELETE per commit; cleared with every age trim (once a
  // second), so it holds only the rooms of the last second.
  std::map<std::string, std::uint64_t, std::less<>> trimmed_below_;

  std::mutex queue_mutex_;
  std::condition_variable queue_changed_;
  std::vector<Pending> pending_;
  std::size_t pending_events_ = 0;
  std::size_t writing_events_ = 0;  // in the transaction the writer is committing
  std::string failure_;             // under queue_mutex_: why the last commit failed, "" when it did not
  std::string commit_error_;        // writer thread: what the failed commit said
  std::chrono::steady_clock::time_point first_pending_at_{};
  bool closing_ = false;
  bool closed_ = false;
  bool lost_events_ = false;  // an append was refused or a commit failed: the ids of those may be known
  std::thread writer_;
};

}  // namespace chatd
