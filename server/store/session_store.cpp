#include "server/store/session_store.hpp"

#include <sqlite3.h>

#include <utility>

namespace chatd {

namespace {

// history.store: memory. Sessions live in the authenticator's memory only.
class NoSessionStore final : public SessionStore {
 public:
  std::vector<StoredSession> load(std::int64_t) override { return {}; }
  void save(const StoredSession&) override {}
  void remove(std::string_view) override {}
  void remove_expired(std::int64_t) override {}
};

class SqliteSessionStore final : public SessionStore {
 public:
  explicit SqliteSessionStore(std::string path) : path_(std::move(path)) {
    const int opened =
        sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (opened != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(opened);
      sqlite3_close(db_);
      db_ = nullptr;
      throw StoreError("history.path '" + path_ + "': cannot open for sessions: " + why);
    }
    try {
      sqlite3_busy_timeout(db_, 5000);
      // The history store has set WAL mode on the file already (it opens first); FULL, because a login
      // answered is a promise the token works after a power cut too, and logins are rare.
      exec("PRAGMA synchronous = FULL");
      exec(
          "CREATE TABLE IF NOT EXISTS sessions(token_sha256 BLOB PRIMARY KEY, name TEXT NOT NULL,"
          "  expires_at INTEGER NOT NULL) WITHOUT ROWID");
      insert_ = prepare("INSERT OR REPLACE INTO sessions(token_sha256, name, expires_at) VALUES(?, ?, ?)");
      delete_ = prepare("DELETE FROM sessions WHERE token_sha256 = ?");
      expire_ = prepare("DELETE FROM sessions WHERE expires_at <= ?");
    } catch (...) {
      close();
      throw;
    }
  }
  ~SqliteSessionStore() override { close(); }

  std::vector<StoredSession> load(std::int64_t now) override {
    remove_expired(now);
    std::vector<StoredSession> sessions;
    sqlite3_stmt* select = prepare("SELECT token_sha256, name, expires_at FROM sessions");
    int step;
    while ((step = sqlite3_step(select)) == SQLITE_ROW) {
      StoredSession session;
      session.token_sha256 = column(select, 0);
      session.name = column(select, 1);
      session.expires_at = sqlite3_column_int64(select, 2);
      sessions.push_back(std::move(session));
    }
    const std::string why = sqlite3_errmsg(db_);
    sqlite3_finalize(select);
    if (step != SQLITE_DONE) fail("reading sessions: " + why);
    return sessions;
  }

  void save(const StoredSession& session) override {
    bind_blob(insert_, 1, session.token_sha256);
    sqlite3_bind_text(insert_, 2, session.name.data(), static_cast<int>(session.name.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 3, session.expires_at);
    run(insert_, "saving a session");
  }

  void remove(std::string_view token_sha256) override {
    bind_blob(delete_, 1, token_sha256);
    run(delete_, "deleting a session");
  }

  void remove_expired(std::int64_t now) override {
    sqlite3_bind_int64(expire_, 1, now);
    run(expire_, "deleting expired sessions");
  }

 private:
  static void bind_blob(sqlite3_stmt* statement, int index, std::string_view bytes) {
    sqlite3_bind_blob(statement, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
  }
  static std::string column(sqlite3_stmt* statement, int index) {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(statement, index));
    return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(statement, index))) : "";
  }
  void run(sqlite3_stmt* statement, const char* what) {
    const int step = sqlite3_step(statement);
    const std::string why = step == SQLITE_DONE ? "" : sqlite3_errmsg(db_);
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    if (step != SQLITE_DONE) fail(std::string(what) + ": " + why);
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &statement, nullptr) != SQLITE_OK) fail(sqlite3_errmsg(db_));
    return statement;
  }
  void exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string why = error ? error : sqlite3_errmsg(db_);
      sqlite3_free(error);
      fail(why);
    }
  }
  [[noreturn]] void fail(const std::string& what) {
    throw StoreError("history.path '" + path_ + "': " + what);
  }
  void close() {
    for (auto* statement : {insert_, delete_, expire_}) sqlite3_finalize(statement);
    insert_ = delete_ = expire_ = nullptr;
    sqlite3_close(db_);
    db_ = nullptr;
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* expire_ = nullptr;
};

}  // namespace

std::unique_ptr<SessionStore> open_session_store(const config::History& settings) {
  if (settings.store == config::History::Store::memory) return std::make_unique<NoSessionStore>();
  return std::make_unique<SqliteSessionStore>(settings.path);
}

}  // namespace chatd
