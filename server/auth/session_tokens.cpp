#include "server/auth/session_tokens.hpp"

#include "protocol/base64url.hpp"
#include "server/auth/crypto.hpp"

namespace chatd {

namespace {

std::int64_t to_ms(SessionTokens::Clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

constexpr std::size_t token_bytes = 32;  // 256 bits: guessing one is out of reach however many are live

}  // namespace

SessionTokens::SessionTokens(SessionStore& store, Clock::duration ttl) : store_(store), ttl_(ttl) {}

void SessionTokens::load(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  for (auto& stored : store_.load(to_ms(now))) {
    const Clock::time_point expires_at{std::chrono::milliseconds(stored.expires_at)};
    sessions_[std::move(stored.token_sha256)] = Entry{std::move(stored.name), expires_at};
  }
}

SessionTokens::Issued SessionTokens::issue(const std::string& name, Clock::time_point now) {
  Issued issued;
  issued.token = protocol::base64url_encode(crypto::random_bytes(token_bytes));
  issued.expires_at = now + ttl_;
  StoredSession stored{crypto::sha256(issued.token), name, to_ms(issued.expires_at)};
  store_.save(stored);
  std::lock_guard lock(mutex_);
  if (sessions_.size() >= sweep_at_) {
    forget_expired(now);
    store_.remove_expired(to_ms(now));
  }
  sessions_[std::move(stored.token_sha256)] = Entry{name, issued.expires_at};
  return issued;
}

std::optional<SessionTokens::Session> SessionTokens::find(std::string_view token,
                                                          Clock::time_point now) const {
  // A token is 43 base64url characters; anything else is not one of ours, and is not hashed.
  if (token.size() != 43) return std::nullopt;
  // Looked up by its hash: the map compares hashes, never the secret itself, so the lookup's timing tells
  // nothing about any live token.
  std::string sha256 = crypto::sha256(token);
  std::lock_guard lock(mutex_);
  const auto found = sessions_.find(sha256);
  if (found == sessions_.end() || now >= found->second.expires_at) return std::nullopt;
  return Session{found->second.name, found->second.expires_at, std::move(sha256)};
}

bool SessionTokens::revoke(const std::string& sha256) {
  {
    std::lock_guard lock(mutex_);
    if (!sessions_.contains(sha256)) return false;
  }
  store_.remove(sha256);
  std::vector<std::function<void()>> told;
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(sha256);
    const auto [first, last] = watches_.equal_range(sha256);
    for (auto it = first; it != last; ++it) told.push_back(std::move(it->second.revoked));
    watches_.erase(first, last);
  }
  for (auto& revoked : told) revoked();  // outside the lock: they may call unwatch
  return true;
}

bool SessionTokens::watch(const std::string& sha256, const void* owner, std::function<void()> revoked) {
  std::lock_guard lock(mutex_);
  if (!sessions_.contains(sha256)) return false;
  watches_.emplace(sha256, Watch{owner, std::move(revoked)});
  return true;
}

void SessionTokens::unwatch(const std::string& sha256, const void* owner) {
  std::lock_guard lock(mutex_);
  const auto [first, last] = watches_.equal_range(sha256);
  for (auto it = first; it != last; ++it) {
    if (it->second.owner == owner) {
      watches_.erase(it);
      return;
    }
  }
}

std::size_t SessionTokens::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void SessionTokens::forget_expired(Clock::time_point now) {
  std::erase_if(sessions_, [now](const auto& entry) { return now >= entry.second.expires_at; });
  sweep_at_ = std::max<std::size_t>(1024, 2 * sessions_.size());
}

}  // namespace chatd
