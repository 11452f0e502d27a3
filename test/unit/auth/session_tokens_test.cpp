// SessionTokens (server/auth/session_tokens.cpp): tokens handed out once and kept as SHA-256, expiry with
// an injected clock, the store written before a token is returned, revocation telling every watcher.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/auth/crypto.hpp"
#include "server/auth/session_tokens.hpp"

using namespace chatd;
using namespace std::chrono_literals;

namespace {

// A SessionStore that remembers what it was told, and fails on request.
class RecordingStore final : public SessionStore {
 public:
  std::vector<StoredSession> rows;
  bool fail = false;

  std::vector<StoredSession> load(std::int64_t now) override {
    std::erase_if(rows, [now](const StoredSession& row) { return row.expires_at <= now; });
    return rows;
  }
  void save(const StoredSession& session) override {
    if (fail) throw StoreError("disk full");
    rows.push_back(session);
  }
  void remove(std::string_view sha256) override {
    if (fail) throw StoreError("disk full");
    std::erase_if(rows, [sha256](const StoredSession& row) { return row.token_sha256 == sha256; });
  }
  void remove_expired(std::int64_t now) override {
    std::erase_if(rows, [now](const StoredSession& row) { return row.expires_at <= now; });
  }
};

const SessionTokens::Clock::time_point t0{std::chrono::seconds(1'800'000'000)};

}  // namespace

TEST_CASE("a token is 43 base64url characters, found until its expiry, and stored only as its SHA-256") {
  RecordingStore store;
  SessionTokens tokens(store, 1h);
  const auto issued = tokens.issue("alice", t0);
  CHECK(issued.token.size() == 43);
  CHECK(issued.expires_at == t0 + 1h);
  REQUIRE(store.rows.size() == 1);
  CHECK(store.rows[0].token_sha256 == crypto::sha256(issued.token));
  CHECK(store.rows[0].name == "alice");
  CHECK(store.rows[0].expires_at ==
        std::chrono::duration_cast<std::chrono::milliseconds>((t0 + 1h).time_since_epoch()).count());

  const auto found = tokens.find(issued.token, t0 + 59min);
  REQUIRE(found.has_value());
  CHECK(found->name == "alice");
  CHECK(found->sha256 == crypto::sha256(issued.token));
  CHECK_FALSE(tokens.find(issued.token, t0 + 1h).has_value());  // expired at exactly expires_at
  CHECK_FALSE(tokens.find(issued.token.substr(1), t0).has_value());
  std::string altered = issued.token;
  altered[0] = altered[0] == 'A' ? 'B' : 'A';
  CHECK_FALSE(tokens.find(altered, t0).has_value());
  CHECK(tokens.issue("alice", t0).token != issued.token);
}

TEST_CASE("sessions come back from the store after a restart, expired ones do not") {
  RecordingStore store;
  std::string live, dead;
  {
    SessionTokens first(store, 1h);
    live = first.issue("alice", t0 + 30min).token;
    dead = first.issue("bob", t0).token;
  }
  SessionTokens second(store, 1h);
  second.load(t0 + 1h);
  CHECK(second.find(live, t0 + 1h).has_value());
  CHECK_FALSE(second.find(dead, t0 + 1h).has_value());
  CHECK(second.size() == 1);
}

TEST_CASE("revoke: the store first, then the token stops working and every watcher is told once") {
  RecordingStore store;
  SessionTokens tokens(store, 1h);
  const auto issued = tokens.issue("alice", t0);
  const std::string sha = crypto::sha256(issued.token);
  int first = 0, second = 0, other = 0;
  const int a = 0, b = 0, c = 0;
  CHECK(tokens.watch(sha, &a, [&] { ++first; }));
  CHECK(tokens.watch(sha, &b, [&] { ++second; }));
  const auto bob = tokens.issue("bob", t0);
  CHECK(tokens.watch(crypto::sha256(bob.token), &c, [&] { ++other; }));
  tokens.unwatch(sha, &b);

  store.fail = true;
  CHECK_THROWS_AS(tokens.revoke(sha), StoreError);
  CHECK(tokens.find(issued.token, t0).has_value());  // nothing changed: the database still has it
  CHECK(first == 0);

  store.fail = false;
  CHECK(tokens.revoke(sha));
  CHECK_FALSE(tokens.find(issued.token, t0).has_value());
  CHECK(first == 1);
  CHECK(second == 0);  // unwatched before
  CHECK(other == 0);
  CHECK_FALSE(tokens.revoke(sha));  // once
  CHECK(first == 1);
  CHECK_FALSE(tokens.watch(sha, &a, [&] { ++first; }));  // a revoked session cannot be watched
  CHECK(store.rows.size() == 1);
}

TEST_CASE("a token whose save failed is never handed out") {
  RecordingStore store;
  store.fail = true;
  SessionTokens tokens(store, 1h);
  CHECK_THROWS_AS(tokens.issue("alice", t0), StoreError);
  CHECK(tokens.size() == 0);
}
