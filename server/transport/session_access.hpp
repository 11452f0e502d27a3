// What access control adds to a session opened with a token (docs/security.md): when the token expires,
// and the login session whose POST /logout closes it. A session holds one through a unique_ptr that stays
// null in auth.mode open, so an open-mode connection pays one pointer for it.
// Thread affinity: the session's worker thread, except that `revoked` (watch) runs on the logging-out one.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "server/auth/session_tokens.hpp"
#include "server/core/disconnect.hpp"

namespace chatd {

class SessionAccess {
 public:
  using Clock = std::chrono::steady_clock;

  // The access of a session whose token expires at `expires_at`.
  static std::unique_ptr<SessionAccess> expiring(Clock::time_point expires_at) {
    auto access = std::make_unique<SessionAccess>();
    access->expires_at_ = expires_at;
    return access;
  }

  // Within one tick (at most 250 ms) of the token's exp, the session is closed with 4001; its client
  // reconnects with a fresh token and resumes where it was.
  bool expired(Clock::time_point now) const { return now >= expires_at_; }

  // A POST /logout of session `sha256` calls `revoked` (from the logging-out thread) until unwatch().
  // `owner` is the session. False when that login session has ended already.
  bool watch(SessionTokens& sessions, const std::string& sha256, const void* owner,
             std::function<void()> revoked) {
    if (!sessions.watch(sha256, owner, std::move(revoked))) return false;
    sessions_ = &sessions;
    session_sha256_ = sha256;
    return true;
  }
  // When the session ends: a later logout has nobody to tell.
  void unwatch(const void* owner) {
    if (sessions_) sessions_->unwatch(session_sha256_, owner);
    sessions_ = nullptr;
  }

 private:
  Clock::time_point expires_at_ = Clock::time_point::max();
  SessionTokens* sessions_ = nullptr;
  std::string session_sha256_;
};

// Session::close_on_logout for a session of type S (shared_from_this, Subscriber::close), through its
// `access`, made here when the session has none (auth.mode open has no expiry, but may have API keys).
template <class S>
void close_on_logout(std::unique_ptr<SessionAccess>& access, S& session, SessionTokens& sessions,
                     const std::string& sha256) {
  if (!access) access = std::make_unique<SessionAccess>();
  // A weak reference: the watch must not keep a closed connection alive until its owner logs out.
  std::weak_ptr<S> weak = session.shared_from_this();
  const bool watching = access->watch(sessions, sha256, &session, [weak] {
    if (auto alive = weak.lock()) alive->close(disconnect::logged_out, true);
  });
  if (!watching) session.close(disconnect::logged_out, true);
}

}  // namespace chatd
