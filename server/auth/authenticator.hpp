// Who sent a request: the credentials it presents (an API key or a token, in a header, a cookie or the
// query), checked against what auth: configures, give an Identity or the reason for a 401. Built once at
// start-up; authenticate() runs on any thread, concurrently. Password checks and session changes cost
// disk writes or ~0.1 s of CPU: the login and logout routes run them on the auth thread, not here.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "server/auth/identity.hpp"
#include "server/auth/jwt_verifier.hpp"
#include "server/auth/session_tokens.hpp"
#include "server/store/session_store.hpp"

namespace chatd {

// The name of the session cookie POST /login sets.
inline constexpr std::string_view session_cookie = "chatd_session";

// What a name looks like, for telling whether two names would pass for each other: without blank and
// invisible characters (spaces anywhere, no-break and zero-width spaces, joiners, bidi marks), ASCII
// letters lowercased. "Admin", " admin" and "ad\u200bmin" all have the skeleton of "admin". Any thread.
// (Confusable letters of other scripts, a Cyrillic "а" for a Latin "a", are not folded.)
std::string name_skeleton(std::string_view name);

struct Credentials {
  std::string_view bearer;  // Authorization: Bearer <this>
  std::string_view query;   // ?token=<this>, for clients that cannot set headers (browsers' WebSocket)
  std::string_view cookie;  // the session cookie
};

struct Authentication {
  // With no identity, which kind of refusal (counted as chatd_auth_failures_total{reason}).
  enum class Failure { none, missing, invalid, expired };
  std::optional<Identity> identity;
  std::string error;  // with no identity: why, for the 401 body
  Failure failure = Failure::none;
};

class Authenticator {
 public:
  using Clock = std::chrono::system_clock;

  // Throws config::ConfigError pointing at the key whose value libcrypto cannot use (a malformed hash, a
  // PEM key of the wrong type or size) and StoreError when the session store cannot be read.
  Authenticator(const config::Auth& settings, std::unique_ptr<SessionStore> store, Clock::time_point now);
  ~Authenticator();

  config::Auth::Mode mode() const { return settings_.mode; }
  const config::Auth& settings() const { return settings_; }

  // Any thread. Presented credentials are tried in the order bearer, query, cookie, and the first one
  // present decides: a bad one is refused even if a later one would pass. In auth.mode open every request
  // is Identity::Kind::anyone, whatever it presents.
  Authentication authenticate(const Credentials& presented, Clock::time_point now) const;

  // The hash a login for `name` is checked against: the user's own when auth.users lists the name (only its
  // owner can take it), else auth.password_hash; "" when there is none (the login fails), and for a name
  // that looks like a listed one without being it (name_skeleton).
  std::string_view password_hash_for(std::string_view name) const;

  SessionTokens& sessions() { return sessions_; }

 private:
  std::optional<Identity> api_key(std::string_view key) const;
  Authentication session(std::string_view token, Clock::time_point now, bool by_cookie) const;
  Authentication jwt(std::string_view token, Clock::time_point now) const;

  config::Auth settings_;
  std::unique_ptr<SessionStore> store_;
  SessionTokens sessions_;
  std::unique_ptr<JwtVerifier> verifier_;  // auth.mode jwt
};

}  // namespace chatd
