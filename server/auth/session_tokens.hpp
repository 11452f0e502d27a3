// The login sessions of auth.mode password: each token is 32 random bytes, given to the client once, and
// kept here only as its SHA-256 with the name and expiry (a leaked database or core dump does not let anyone
// in). With SQLite the same rows are in the database (SessionStore), so logins survive a restart.
// Logout finds the live connections opened with a token through watch(): each is told at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/store/session_store.hpp"

namespace chatd {

class SessionTokens {
 public:
  using Clock = std::chrono::system_clock;

  struct Issued {
    std::string token;  // base64url of 32 random bytes: what the client sends back
    Clock::time_point expires_at;
  };
  struct Session {
    std::string name;
    Clock::time_point expires_at;
    std::string sha256;  // the token's, for watch() and revoke()
  };

  SessionTokens(SessionStore& store, Clock::duration ttl);

  // Start-up: the sessions the store still holds.
  void load(Clock::time_point now);

  // The auth thread (one at a time): a new session for `name`, saved before it is returned. Throws
  // StoreError when the database fails and std::runtime_error when random bytes cannot be had.
  Issued issue(const std::string& name, Clock::time_point now);
  // Any thread: the live session `token` names, or nullopt (unknown, expired or revoked).
  std::optional<Session> find(std::string_view token, Clock::time_point now) const;
  // The auth thread: ends the session (the store first: throws StoreError and changes nothing when the
  // database fails), then tells every watcher of it. False when there was no such session.
  bool revoke(const std::string& sha256);

  // Any thread: `revoked` runs (on the revoking thread) when the session `sha256` is revoked. `owner`
  // identifies the watch for unwatch(), which its owner calls when it ends first. False, and nothing
  // watched, when the session is gone already.
  bool watch(const std::string& sha256, const void* owner, std::function<void()> revoked);
  void unwatch(const std::string& sha256, const void* owner);

  std::size_t size() const;

 private:
  struct Entry {
    std::string name;
    Clock::time_point expires_at;
  };
  struct Watch {
    const void* owner;
    std::function<void()> revoked;
  };
  void forget_expired(Clock::time_point now);  // under mutex_

  SessionStore& store_;
  const Clock::duration ttl_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> sessions_;  // by the token's SHA-256
  std::unordered_multimap<std::string, Watch> watches_;
  std::size_t sweep_at_ = 1024;
};

}  // namespace chatd
