// Login sessions (auth.mode password) beyond the process. With history.store sqlite they are a table in the
// same database, so a login survives a restart; with memory, nothing outlives the process. Only a token's
// SHA-256 is stored: a copy of the database does not let anyone in.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "server/store/history_store.hpp"

namespace chatd {

struct StoredSession {
  std::string token_sha256;     // 32 raw bytes
  std::string name;             // who logged in
  std::int64_t expires_at = 0;  // ms since the Unix epoch
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // The sessions still valid at `now` (ms since the Unix epoch); expired ones are deleted. Start-up only.
  virtual std::vector<StoredSession> load(std::int64_t now) = 0;
  // One thread at a time (the auth thread): each is one committed transaction before it returns, so a
  // token handed out is on disk. Throw StoreError when the database fails.
  virtual void save(const StoredSession& session) = 0;
  virtual void remove(std::string_view token_sha256) = 0;
  // Deletes the sessions expired at `now`.
  virtual void remove_expired(std::int64_t now) = 0;
};

// The store history.store names: SQLite opens its own connection to history.path (WAL lets it write beside
// the history's writer; busy_timeout waits out the writer's commits). Throws StoreError.
std::unique_ptr<SessionStore> open_session_store(const config::History& settings);

}  // namespace chatd
