#include "server/store/sqlite_history_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <map>

#include "server/core/log.hpp"
#include "server/core/thread_name.hpp"
#include "server/metrics/metrics.hpp"

namespace chatd {

namespace {

void bind_text(sqlite3_stmt* statement, int index, const std::string& text) {
  sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

// Rows per INSERT of the batch insert: one statement step for 16 events instead of 16 (each step runs the
// statement's program from the top). 16 x 6 parameters is far under SQLite's limit (32766 since 3.32).
constexpr std::size_t rows_per_insert = 16;

std::string insert_sql(std::size_t rows) {
  std::string sql = "INSERT INTO events(room, id, ts, type, name, text) VALUES";
  for (std::size_t row = 0; row < rows; ++row)
    sql += row == 0 ? "(?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?)";
  return sql;
}

// A room's newest id, in a statement on `rooms`: its newest row in `events`, or rooms.last_id, which
// holds it only once a trim could take that row (commit()) and after a crash the skip (open_schema()).
// So a commit need not write rooms.last_id: that was one more B-tree page per room per commit (issue 14).
constexpr const char* newest_id_sql =
    "max(last_id, coalesce((SELECT max(id) FROM events WHERE events.room = rooms.name), 0))";

std::string column_text(sqlite3_stmt* statement, int index) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, index));
  return text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(statement, index))) : "";
}

}  // namespace

// A statement prepared for one use, finalized on every way out.
class SqliteHistoryStore::Statement {
 public:
  Statement(SqliteHistoryStore& store, const char* sql) : statement_(store.prepare(sql)) {}
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  operator sqlite3_stmt*() const { return statement_; }

 private:
  sqlite3_stmt* statement_;
};

SqliteHistoryStore::SqliteHistoryStore(const config::History& settings) : settings_(settings) {
  const int opened =
      sqlite3_open_v2(settings_.path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (opened != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(opened);
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError("history.path '" + settings_.path + "': cannot open: " + why);
  }
  try {
    // SQLite falls back to read-only when the file is not writable; a history that cannot grow is no use.
    if (sqlite3_db_readonly(db_, "main") == 1) fail("the file is not writable");
    sqlite3_busy_timeout(db_, 5000);
    open_schema();
    insert_event_ = prepare(insert_sql(1).c_str());
    insert_events_ = prepare(insert_sql(rows_per_insert).c_str());
    save_last_id_ = prepare(
        "UPDATE rooms SET last_id = newest.id FROM (SELECT max(id) AS id FROM events WHERE room = ?1)"
        " AS newest WHERE name = ?1 AND last_id < newest.id");
    save_aged_last_ids_ = prepare(
        "UPDATE rooms SET last_id = aged.id FROM (SELECT room, max(id) AS id FROM events WHERE ts < ?1"
        " GROUP BY room) AS aged WHERE name = aged.room AND last_id < aged.id");
    trim_room_ = prepare("DELETE FROM events WHERE room = ? AND id < ?");
    trim_age_ = prepare("DELETE FROM events WHERE ts < ?");
  } catch (...) {
    finalize_statements();
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
  writer_ = std::thread([this] {
    name_this_thread("history-writer");
    run_writer();
  });
}

void SqliteHistoryStore::finalize_statements() {
  for (auto** statement :
       {&insert_event_, &insert_events_, &save_last_id_, &save_aged_last_ids_, &trim_room_, &trim_age_}) {
    sqlite3_finalize(*statement);  // null: a no-op
    *statement = nullptr;
  }
}

SqliteHistoryStore::~SqliteHistoryStore() {
  close();
}

void SqliteHistoryStore::fail(const std::string& what) {
  throw StoreError("history.path '" + settings_.path + "': " + what);
}

sqlite3_stmt* SqliteHistoryStore::prepare(const char* sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &statement, nullptr) != SQLITE_OK) fail(sqlite3_errmsg(db_));
  return statement;
}

void SqliteHistoryStore::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string why = error ? error : sqlite3_errmsg(db_);
    sqlite3_free(error);
    fail(why);
  }
}

void SqliteHistoryStore::open_schema() {
  {
    // The first read of the file: a file that is not a database fails here.
    Statement wal(*this, "PRAGMA journal_mode = WAL");
    if (sqlite3_step(wal) != SQLITE_ROW) fail(sqlite3_errmsg(db_));
    const std::string mode = column_text(wal, 0);
    if (mode != "wal") fail("cannot switch to WAL mode (journal mode is '" + mode + "')");
  }
  // sync promises that an answered publish survives a power cut too; batch only a crash of chatd.
  exec(settings_.durability == config::History::Durability::sync ? "PRAGMA synchronous = FULL"
                                                                 : "PRAGMA synchronous = NORMAL");
  // The writer's own costs, measured in issue 14 (1,000 rooms, 2,000 events/s; docs/performance.md):
  // - temp_store MEMORY keeps each multi-row INSERT's statement journal in memory; by default SQLite
  //   spills one past 64 KiB to a temporary file, which was 0.9 pwrite64 per event.
  // - An 8 MiB page cache (SQLite's default is 2 MiB) holds every busy room's newest B-tree page, which
  //   each commit rewrites: with the default, 0.5 of a pread64 per event read evicted pages back.
  //   It fills only as far as the pages in use.
  // - A checkpoint every 10,000 WAL pages (40 MiB; the default is 1,000) copies a page rewritten by many
  //   commits to the database once instead of once per 1,000 frames.
  exec("PRAGMA temp_store = MEMORY");
  exec("PRAGMA cache_size = -8192");
  exec("PRAGMA wal_autocheckpoint = 10000");
  exec("BEGIN IMMEDIATE");  // takes the write lock: an unwritable folder (no -wal file) fails here
  exec(
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS rooms(name TEXT PRIMARY KEY, epoch TEXT NOT NULL,"
      "  last_id INTEGER NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS events(room TEXT NOT NULL, id INTEGER NOT NULL, ts INTEGER NOT NULL,"
      "  type INTEGER NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL, PRIMARY KEY(room, id)) WITHOUT ROWID;"
      "CREATE INDEX IF NOT EXISTS events_by_ts ON events(ts);");
  bool clean = true;
  {
    Statement state(*this, "SELECT value FROM meta WHERE key = 'clean'");
    const int step = sqlite3_step(state);
    if (step == SQLITE_ROW)
      clean = column_text(state, 0) == "1";
    else if (step != SQLITE_DONE)
      fail(sqlite3_errmsg(db_));
  }
  if (!clean) {
    // Events the last run had given ids but not committed are gone, and their ids may be known to
    // clients: never give those ids again.
    log::warn("history: the last run did not close ", settings_.path, " cleanly; ids in every room skip ",
              max_pending_events, " ahead");
    const std::string skip = "UPDATE rooms SET last_id = " + std::string(newest_id_sql) + " + " +
                             std::to_string(max_pending_events);
    exec(skip.c_str());
  }
  exec("INSERT OR REPLACE INTO meta(key, value) VALUES('clean', '0'); COMMIT");
}

HistoryStore::RoomHistory SqliteHistoryStore::load(const std::string& room) {
  std::lock_guard lock(db_mutex_);
  RoomHistory history;
  {
    const std::string sql = "SELECT epoch, " + std::string(newest_id_sql) + " FROM rooms WHERE name = ?";
    Statement select(*this, sql.c_str());
    bind_text(select, 1, room);
    const int step = sqlite3_step(select);
    if (step == SQLITE_ROW) {
      history.epoch = column_text(select, 0);
      history.last_id = static_cast<std::uint64_t>(sqlite3_column_int64(select, 1));
    } else if (step != SQLITE_DONE) {
      fail("reading room '" + room + "': " + sqlite3_errmsg(db_));
    }
  }
  if (history.epoch.empty()) {
    // A new history begins: its epoch is stored before any of its events.
    history.epoch = make_epoch();
    Statement insert(*this, "INSERT INTO rooms(name, epoch, last_id) VALUES(?, ?, 0)");
    bind_text(insert, 1, room);
    bind_text(insert, 2, history.epoch);
    if (sqlite3_step(insert) != SQLITE_DONE) fail("adding room '" + room + "': " + sqlite3_errmsg(db_));
    return history;
  }
  // The newest max_events, by count: ids may skip (after a crash), so an id range would not do.
  Statement select(*this,
                   "SELECT id, ts, type, name, text FROM events WHERE room = ? AND ts >= ? "
                   "ORDER BY id DESC LIMIT ?");
  bind_text(select, 1, room);
  sqlite3_bind_int64(select, 2, event_time_now() - settings_.max_age.count());
  sqlite3_bind_int64(select, 3, static_cast<sqlite3_int64>(settings_.max_events));
  int step = 0;
  while ((step = sqlite3_step(select)) == SQLITE_ROW) {
    auto event = std::make_shared<StoredEvent>();
    event->id = static_cast<std::uint64_t>(sqlite3_column_int64(select, 0));
    event->ts = sqlite3_column_int64(select, 1);
    const auto type = sqlite3_column_int(select, 2);
    event->type = type == 1 ? EventType::join : type == 2 ? EventType::leave : EventType::message;
    event->name = column_text(select, 3);
    event->text = column_text(select, 4);
    history.events.push_back(std::move(event));
  }
  if (step != SQLITE_DONE) fail("reading the history of room '" + room + "': " + sqlite3_errmsg(db_));
  std::reverse(history.events.begin(), history.events.end());
  return history;
}

bool SqliteHistoryStore::knows(const std::string& room) {
  std::lock_guard lock(db_mutex_);
  Statement select(*this, "SELECT 1 FROM rooms WHERE name = ?");
  bind_text(select, 1, room);
  return sqlite3_step(select) == SQLITE_ROW;
}

void SqliteHistoryStore::append(const std::string& room, std::vector<SharedEvent> events,
                                std::uint64_t kept_from, Committed committed) {
  const std::size_t count = events.size();
  std::string why;
  try {
    std::lock_guard lock(queue_mutex_);
    if (!closing_ && pending_events_ + count <= max_pending_events) {
      // Whatever allocates comes before anything is moved: should it throw, `committed` is still ours.
      if (pending_.size() == pending_.capacity())
        pending_.reserve(std::max<std::size_t>(16, 2 * pending_.size()));
      std::string name = room;
      // Only the first append of a batch wakes the writer: it waits for a non-empty queue (then, in
      // batch mode, for the flush interval, which appends do not cut short), so waking it for the others
      // cost a futex call here and a wake-up there per event for nothing (issue 14's profile).
      const bool wake = pending_.empty();
      if (wake) first_pending_at_ = std::chrono::steady_clock::now();
      pending_events_ += count;
      pending_.push_back(Pending{std::move(name), std::move(events), kept_from, std::move(committed)});
      if (wake) queue_changed_.notify_one();
      return;
    }
    why = "the writer is " + std::to_string(max_pending_events) + " events behind the disk";
  } catch (const std::exception& error) {
    why = error.what();
  }
  {
    std::lock_guard lock(queue_mutex_);
    lost_events_ = true;
  }
  metrics::add(metrics::Series::history_lost_events, count);
  log::error("history: ", count, " event(s) of room ", room, " not stored: ", why);
  if (committed) committed(false);
}

void SqliteHistoryStore::run_writer() {
  const bool batch_mode = settings_.durability == config::History::Durability::batch;
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(queue_mutex_);
      queue_changed_.wait(lock, [&] { return closing_ || !pending_.empty(); });
      if (pending_.empty()) return;  // closing, and nothing left
      // batch: let a flush interval's worth of events gather into one transaction.
      if (batch_mode) {
        queue_changed_.wait_until(lock, first_pending_at_ + settings_.flush_interval,
                                  [&] { return closing_; });
      }
      batch.swap(pending_);
      writing_events_ = pending_events_;
      pending_events_ = 0;
    }
    bool ok = false;
    const auto began = std::chrono::steady_clock::now();
    try {
      ok = commit(batch);
    } catch (const std::exception& error) {  // memory ran out: the batch is lost, the writer goes on
      log::error("history: a commit failed: ", error.what());
      commit_error_ = error.what();
      std::lock_guard lock(queue_mutex_);
      lost_events_ = true;
    }
    const auto took = std::chrono::steady_clock::now() - began;
    metrics::observe_commit(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
    std::size_t events = 0;
    {
      std::lock_guard lock(queue_mutex_);
      events = writing_events_;
      writing_events_ = 0;
      failure_ = ok ? std::string() : "the last commit to " + settings_.path + " failed: " + commit_error_;
    }
    metrics::add(ok ? metrics::Series::history_committed_events : metrics::Series::history_lost_events,
                 events);
    for (auto& pending : batch) {
      if (pending.committed) pending.committed(ok);
    }
    batch.clear();
  }
}

std::string SqliteHistoryStore::failure() {
  std::lock_guard lock(queue_mutex_);
  return failure_;
}

std::size_t SqliteHistoryStore::pending_events() {
  std::lock_guard lock(queue_mutex_);
  return pending_events_ + writing_events_;
}

void SqliteHistoryStore::step_and_reset(sqlite3_stmt* statement) {
  const int step = sqlite3_step(statement);
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  if (step != SQLITE_DONE) throw StoreError(sqlite3_errmsg(db_));
}

void SqliteHistoryStore::insert_events(const std::vector<Pending>& batch) {
  // Every event of the batch, whatever its room, in the order appended.
  std::vector<std::pair<const std::string*, const StoredEvent*>> rows;
  for (const auto& pending : batch) {
    for (const auto& event : pending.events) rows.emplace_back(&pending.room, event.get());
  }
  const auto bind_row = [](sqlite3_stmt* statement, int first, const std::string& room,
                           const StoredEvent& event) {
    bind_text(statement, first, room);
    sqlite3_bind_int64(statement, first + 1, static_cast<sqlite3_int64>(event.id));
    sqlite3_bind_int64(statement, first + 2, event.ts);
    sqlite3_bind_int(statement, first + 3, static_cast<int>(event.type));
    bind_text(statement, first + 4, event.name);
    bind_text(statement, first + 5, event.text);
  };
  std::size_t at = 0;
  for (; at + rows_per_insert <= rows.size(); at += rows_per_insert) {
    for (std::size_t row = 0; row < rows_per_insert; ++row)
      bind_row(insert_events_, static_cast<int>(6 * row + 1), *rows[at + row].first, *rows[at + row].second);
    step_and_reset(insert_events_);
  }
  for (; at < rows.size(); ++at) {
    bind_row(insert_event_, 1, *rows[at].first, *rows[at].second);
    step_and_reset(insert_event_);
  }
}

bool SqliteHistoryStore::commit(const std::vector<Pending>& batch) {
  std::lock_guard lock(db_mutex_);
  struct RoomChange {
    std::uint64_t last_id = 0;
    std::uint64_t kept_from = 0;
  };
  std::map<std::string_view, RoomChange> changes;
  std::vector<std::pair<std::string_view, std::uint64_t>> trimmed;  // into trimmed_below_ once committed
  bool aged = false;
  try {
    exec("BEGIN");
    insert_events(batch);
    for (const auto& pending : batch) {
      auto& change = changes[pending.room];
      if (!pending.events.empty()) change.last_id = std::max(change.last_id, pending.events.back()->id);
      change.kept_from = std::max(change.kept_from, pending.kept_from);
    }
    for (const auto& [room, change] : changes) {
      // What the room no longer retains (max_events, max_age) goes from the disk too, when that moved.
      const auto done = trimmed_below_.find(room);
      if (done != trimmed_below_.end() && done->second >= change.kept_from) continue;
      const std::string name(room);
      // rooms.last_id is not written per commit (newest_id_sql): a trim that may take the room's newest
      // row (the room kept none of this batch's events) saves it first.
      if (change.kept_from > change.last_id) {
        bind_text(save_last_id_, 1, name);
        step_and_reset(save_last_id_);
      }
      bind_text(trim_room_, 1, name);
      sqlite3_bind_int64(trim_room_, 2, static_cast<sqlite3_int64>(change.kept_from));
      step_and_reset(trim_room_);
      trimmed.emplace_back(room, change.kept_from);
    }
    // Age trims every room at once: at most once a second.
    const auto now = std::chrono::steady_clock::now();
    if (now - last_age_trim_ >= std::chrono::seconds(1)) {
      const auto cutoff = event_time_now() - settings_.max_age.count();
      sqlite3_bind_int64(save_aged_last_ids_, 1, cutoff);
      step_and_reset(save_aged_last_ids_);
      sqlite3_bind_int64(trim_age_, 1, cutoff);
      step_and_reset(trim_age_);
      aged = true;
    }
    exec("COMMIT");
    if (aged) {
      last_age_trim_ = now;
      trimmed_below_.clear();
    }
    for (const auto& [room, below] : trimmed) trimmed_below_.insert_or_assign(std::string(room), below);
    return true;
  } catch (const StoreError& error) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    std::size_t lost = 0;
    for (const auto& pending : batch) lost += pending.events.size();
    log::error("history: could not store ", lost, " event(s): ", error.what());
    commit_error_ = error.what();
    std::lock_guard queue_lock(queue_mutex_);
    lost_events_ = true;
    return false;
  }
}

void SqliteHistoryStore::close() {
  {
    std::lock_guard lock(queue_mutex_);
    if (closed_) return;
    closed_ = closing_ = true;
  }
  queue_changed_.notify_one();
  if (writer_.joinable()) writer_.join();
  std::lock_guard lock(db_mutex_);
  const bool lost = lost_events_;
  finalize_statements();
  // Everything appended is committed: the next start need not skip ids.
  if (!lost && sqlite3_exec(db_, "UPDATE meta SET value = '1' WHERE key = 'clean'", nullptr, nullptr,
                            nullptr) != SQLITE_OK)
    log::error("history: could not mark ", settings_.path, " closed cleanly: ", sqlite3_errmsg(db_));
  sqlite3_close(db_);
  db_ = nullptr;
}

}  // namespace chatd
