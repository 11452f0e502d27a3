// The Authenticator (server/auth/authenticator.cpp): which credential decides, API keys, sessions, JWTs,
// and the start-up checks that point at the config's text.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>

#include "protocol/base64url.hpp"
#include "server/auth/authenticator.hpp"
#include "server/auth/crypto.hpp"

using namespace chatd;
using namespace std::chrono_literals;

namespace {

// history.store memory: sessions live in the authenticator alone.
std::unique_ptr<SessionStore> no_store() {
  config::History memory;
  memory.store = config::History::Store::memory;
  return open_session_store(memory);
}

const Authenticator::Clock::time_point now{std::chrono::seconds(1'800'000'000)};

config::Written at(const std::string& key, int line) {
  return config::Written{"chat.yaml", key, line, 3};
}

config::Auth with_key(config::Auth::Mode mode, const std::string& key,
                      std::optional<std::vector<std::string>> rooms = {}) {
  config::Auth settings;
  settings.mode = mode;
  settings.password_hash = crypto::hash_password("shared", 10);
  settings.api_keys.push_back(
      config::ApiKey{"ci", crypto::sha256_hex(key), std::move(rooms), at("auth.api_keys[0]", 9)});
  return settings;
}

std::string hs256_token(const std::string& secret, const std::string& claims) {
  const std::string input =
      protocol::base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + protocol::base64url_encode(claims);
  return input + "." + protocol::base64url_encode(crypto::hmac_sha256(secret, input));
}

std::string error_of(const config::Auth& settings) {
  try {
    Authenticator auth(settings, no_store(), now);
  } catch (const config::ConfigError& error) {
    return error.what();
  }
  return "built";
}

}  // namespace

TEST_CASE("open mode: every request is anyone, whatever it presents") {
  Authenticator auth(config::Auth{}, no_store(), now);
  const auto result = auth.authenticate(Credentials{"garbage", "", ""}, now);
  REQUIRE(result.identity.has_value());
  CHECK(result.identity->kind == Identity::Kind::anyone);
  CHECK(result.identity->chooses_name());
  CHECK(result.identity->may_use("anything"));
}

TEST_CASE("password mode: keys, sessions and cookies; the first credential present decides") {
  const std::string key = "the-ci-key-0123456789";
  Authenticator auth(with_key(config::Auth::Mode::password, key, std::vector<std::string>{"ops", "deploy-*"}),
                     no_store(), now);
  const auto missing = auth.authenticate(Credentials{}, now);
  CHECK_FALSE(missing.identity);
  CHECK(missing.error.starts_with("authentication required"));

  const auto by_key = auth.authenticate(Credentials{key, "", ""}, now);
  REQUIRE(by_key.identity);
  CHECK(by_key.identity->kind == Identity::Kind::api_key);
  CHECK(by_key.identity->name == "ci");
  CHECK(by_key.identity->chooses_name());
  CHECK(by_key.identity->may_use("ops"));
  CHECK(by_key.identity->may_use("deploy-eu"));
  CHECK_FALSE(by_key.identity->may_use("general"));
  CHECK_FALSE(by_key.identity->may_use("op"));
  // A key in a cookie is not a key: browsers send cookies on their own.
  CHECK_FALSE(auth.authenticate(Credentials{"", "", key}, now).identity);

  const auto issued = auth.sessions().issue("alice", now);
  for (const Credentials& presented : {Credentials{issued.token, "", ""}, Credentials{"", issued.token, ""},
                                       Credentials{"", "", issued.token}}) {
    const auto result = auth.authenticate(presented, now + 1min);
    REQUIRE(result.identity);
    CHECK(result.identity->kind == Identity::Kind::session);
    CHECK(result.identity->name == "alice");
    CHECK_FALSE(result.identity->chooses_name());
    CHECK(result.identity->by_cookie == !presented.cookie.empty());
    CHECK(result.identity->expires_at == issued.expires_at);
  }
  // A bad bearer is refused even when the cookie is good.
  const auto bad_first = auth.authenticate(Credentials{"not-a-token", "", issued.token}, now);
  CHECK_FALSE(bad_first.identity);
  CHECK(bad_first.error == "invalid or expired session token: log in again");
}

TEST_CASE("users' own hashes: a listed name is checked against its owner's hash only") {
  config::Auth settings;
  settings.mode = config::Auth::Mode::password;
  settings.password_hash = crypto::hash_password("shared", 10);
  settings.users.push_back(
      config::UserPassword{"admin", crypto::hash_password("root-pw", 10), at("auth.users.admin", 5)});
  Authenticator auth(settings, no_store(), now);
  CHECK(crypto::verify_password("root-pw", auth.password_hash_for("admin")));
  CHECK_FALSE(crypto::verify_password("shared", auth.password_hash_for("admin")));
  CHECK(crypto::verify_password("shared", auth.password_hash_for("alice")));
}

TEST_CASE("a name that looks like a listed one is checked against nothing, not the shared password") {
  CHECK(name_skeleton("Admin") == "admin");
  CHECK(name_skeleton(" ad min\t") == "admin\t");  // a tab is a control character: names refuse it anyway
  CHECK(name_skeleton("admin\u00a0") == "admin");
  CHECK(name_skeleton("ad\u200bmin") == "admin");
  CHECK(name_skeleton("\u2066admin\u2069") == "admin");
  CHECK(name_skeleton("\u00e9lodie") == "\u00e9lodie");
  CHECK(name_skeleton("\u0430dmin") != "admin");  // Cyrillic a: not folded (documented)

  config::Auth settings;
  settings.mode = config::Auth::Mode::password;
  settings.password_hash = crypto::hash_password("shared", 10);
  settings.users.push_back(
      config::UserPassword{"admin", crypto::hash_password("root-pw", 10), at("auth.users.admin", 5)});
  Authenticator auth(settings, no_store(), now);
  for (const char* lookalike : {"admin ", " admin", "Admin", "ADMIN", "admin\u00a0", "ad\u200bmin"}) {
    CAPTURE(lookalike);
    CHECK(auth.password_hash_for(lookalike).empty());
  }
  CHECK_FALSE(auth.password_hash_for("admin").empty());
  CHECK(auth.password_hash_for("administrator") == settings.password_hash);

  settings.users.push_back(
      config::UserPassword{"Admin", crypto::hash_password("x", 10), at("auth.users.Admin", 6)});
  CHECK(error_of(settings) ==
        "chat.yaml:6:3: auth.users.Admin: 'Admin' looks like 'admin' (they differ only in "
        "case or invisible characters): list one of them");
}

TEST_CASE("jwt mode: claims become the identity; a session token is not a JWT") {
  const std::string secret(32, 'k');
  config::Auth settings;
  settings.mode = config::Auth::Mode::jwt;
  settings.jwt.secret.contents = secret;
  settings.jwt.secret.path = "jwt.secret";
  Authenticator auth(settings, no_store(), now);
  const auto good = auth.authenticate(
      Credentials{
          hs256_token(secret, R"({"sub":"carol","exp":1800000600,"rooms":["team-*"],"publish":false})"), "",
          ""},
      now);
  REQUIRE(good.identity);
  CHECK(good.identity->kind == Identity::Kind::jwt);
  CHECK(good.identity->name == "carol");
  CHECK_FALSE(good.identity->may_publish);
  CHECK(good.identity->may_use("team-red"));
  CHECK_FALSE(good.identity->may_use("general"));
  CHECK(good.identity->expires_at == Authenticator::Clock::time_point(std::chrono::seconds(1800000600)));
  const auto expired =
      auth.authenticate(Credentials{hs256_token(secret, R"({"sub":"carol","exp":1799999000})"), "", ""}, now);
  CHECK_FALSE(expired.identity);
  CHECK(expired.error == "token expired");
  const auto wrong_key = auth.authenticate(
      Credentials{hs256_token(std::string(32, 'x'), R"({"sub":"carol","exp":1800000600})"), "", ""}, now);
  CHECK(wrong_key.error == "bad signature");
}

TEST_CASE("start-up: a malformed hash or an unusable key points at the config's text") {
  config::Auth settings;
  settings.mode = config::Auth::Mode::password;
  settings.password_hash = "$scrypt$ln=99,r=8,p=1$c2FsdHNhbHQ$a2V5";
  settings.password_hash_written = at("auth.password_hash", 4);
  CHECK(error_of(settings).starts_with("chat.yaml:4:3: auth.password_hash: "));

  config::Auth jwt;
  jwt.mode = config::Auth::Mode::jwt;
  jwt.jwt.public_key.path = "key.pem";
  jwt.jwt.public_key.contents = "not a key";
  jwt.jwt.public_key.written = at("auth.jwt.public_key_file", 7);
  CHECK(error_of(jwt).starts_with("chat.yaml:7:3: auth.jwt.public_key_file: 'key.pem': "));
}
