// The auth: section of the config (config/config_loader.cpp, read_auth): every key, its default, and each
// refusal pointing at the user's text. What libcrypto must judge (a hash's parameters, a PEM key) is
// checked by the Authenticator: test/unit/auth/authenticator_test.cpp.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "test/unit/config/config_errors.hpp"

using namespace chatd::config;
using chatd::config::test::error_of;
using namespace std::chrono_literals;

namespace {

const std::string good_hash =
    "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U";
const std::string digest = std::string(64, 'a');

class Folder {
 public:
  Folder()
      : path_(std::filesystem::temp_directory_path() / ("chatd_auth_config_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~Folder() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, std::string_view contents) const {
    std::ofstream(path_ / name, std::ios::binary) << contents;
    return (path_ / name).string();
  }
  std::string config(std::string_view yaml) const {
    return write("chat.yaml", "static: {root: \"\"}\nhistory: {store: memory}\n" + std::string(yaml));
  }

 private:
  std::filesystem::path path_;
};

std::string file_error(const std::string& path) {
  try {
    load_file(path);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "loaded";
}

}  // namespace

TEST_CASE("no auth section: mode open, and every default as docs/config.md gives it") {
  const Config config = load_string("");
  CHECK(config.auth.mode == Auth::Mode::open);
  CHECK(config.auth.password_hash.empty());
  CHECK(config.auth.users.empty());
  CHECK(config.auth.token_ttl == 24h);
  CHECK_FALSE(config.auth.cookie_secure);
  CHECK(config.auth.login_rate == doctest::Approx(0.1));
  CHECK(config.auth.login_burst == doctest::Approx(10));
  CHECK(config.auth.api_keys.empty());
  CHECK(config.auth.jwt.leeway == 30s);
  CHECK(config.routes.login == "/login");
  CHECK(config.routes.logout == "/logout");
}

TEST_CASE("password mode: the shared hash, users, ttl, cookie, login limiter") {
  const Config config = load_string("auth:\n  mode: password\n  password_hash: \"" + good_hash +
                                    "\"\n  users:\n    admin: \"" + good_hash +
                                    "\"\n  token_ttl: 2h\n  cookie_secure: true\n  login_rate: 0.5\n"
                                    "  login_burst: 3\n");
  CHECK(config.auth.mode == Auth::Mode::password);
  CHECK(config.auth.password_hash == good_hash);
  CHECK(config.auth.password_hash_written.key == "auth.password_hash");
  CHECK(config.auth.password_hash_written.line == 3);
  REQUIRE(config.auth.users.size() == 1);
  CHECK(config.auth.users[0].name == "admin");
  CHECK(config.auth.users[0].written.key == "auth.users.admin");
  CHECK(config.auth.users[0].written.line == 5);
  CHECK(config.auth.token_ttl == 2h);
  CHECK(config.auth.cookie_secure);
  CHECK(config.auth.login_rate == doctest::Approx(0.5));
  CHECK(config.auth.login_burst == doctest::Approx(3));
}

TEST_CASE("a mode with nothing to check against is refused at its mode key") {
  CHECK(error_of("auth:\n  mode: password\n") ==
        "test.yaml:2:9: auth.mode: mode password needs auth.password_hash or auth.users to check passwords "
        "against (make a hash with chatd --hash-password)");
  CHECK(error_of("auth:\n  mode: jwt\n") ==
        "test.yaml:2:9: auth.mode: mode jwt needs auth.jwt.secret_file (HS256) or auth.jwt.public_key_file "
        "(RS256, ES256) to check signatures with");
  CHECK(error_of("auth:\n  mode: ldap\n") ==
        "test.yaml:2:9: auth.mode: expected one of open, password, jwt, got 'ldap'");
}

TEST_CASE("a password in clear where a hash belongs is refused without being echoed") {
  const std::string message = error_of("auth:\n  mode: password\n  password_hash: hunter2\n");
  CHECK(
      message.starts_with("test.yaml:3:18: auth.password_hash: expected a password hash from chatd "
                          "--hash-password"));
  CHECK(message.find("hunter2") == std::string::npos);
  const std::string user = error_of("auth:\n  users:\n    bob: secret-pw\n");
  CHECK(user.starts_with("test.yaml:3:10: auth.users.bob: expected a password hash"));
  CHECK(user.find("secret-pw") == std::string::npos);
  CHECK(error_of("auth:\n  users:\n    \"\": \"" + good_hash + "\"\n")
            .starts_with("test.yaml:3:5: auth.users.: '' is not a valid name"));
}

TEST_CASE("API keys: name, sha256 (lowercased), rooms with prefixes; each mistake points at itself") {
  const Config config =
      load_string("auth:\n  api_keys:\n    - {name: ci, sha256: " + std::string(64, 'A') +
                  ", rooms: [ops, \"deploy-*\"]}\n    - {name: bot, sha256: " + std::string(64, 'b') + "}\n");
  REQUIRE(config.auth.api_keys.size() == 2);
  CHECK(config.auth.api_keys[0].name == "ci");
  CHECK(config.auth.api_keys[0].sha256 == digest);
  REQUIRE(config.auth.api_keys[0].rooms.has_value());
  CHECK(*config.auth.api_keys[0].rooms == std::vector<std::string>{"ops", "deploy-*"});
  CHECK_FALSE(config.auth.api_keys[1].rooms.has_value());

  CHECK(
      error_of("auth:\n  api_keys:\n    - {name: ci}\n") ==
      "test.yaml:3:7: auth.api_keys[0]: every API key needs a name and a sha256 (chatd --new-api-key prints "
      "both)");
  const std::string short_digest = error_of("auth:\n  api_keys:\n    - {name: ci, sha256: abc123}\n");
  CHECK(short_digest.starts_with("test.yaml:3:26: auth.api_keys[0].sha256: expected 64 hex digits"));
  CHECK(short_digest.find("abc123") == std::string::npos);
  CHECK(error_of("auth:\n  api_keys:\n    - {name: a, sha256: " + digest +
                 "}\n    - {name: b, sha256: " + digest + "}\n")
            .starts_with("test.yaml:4:25: auth.api_keys[1].sha256: this key is listed twice (also as 'a')"));
  CHECK(
      error_of("auth:\n  api_keys:\n    - {name: a, sha256: " + digest + ", rooms: [\"bad room\"]}\n")
          .starts_with("test.yaml:3:99: auth.api_keys[0].rooms: 'bad room' is not a room name or a prefix"));
  CHECK(error_of("auth:\n  api_keys:\n    - {name: a, sha256: " + digest + ", colour: red}\n")
            .starts_with("test.yaml:3:91: auth.api_keys[0].colour: unknown key 'colour'"));
}

TEST_CASE("jwt: secret and key files are read relative to the config, with one trailing newline dropped") {
  const Folder folder;
  folder.write("jwt.secret", std::string(32, 's') + "\n");
  folder.write("key.pem", "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n");
  const Config config = load_file(
      folder.config("auth:\n  mode: jwt\n  jwt:\n    secret_file: jwt.secret\n    public_key_file: key.pem\n"
                    "    issuer: https://auth.example\n    audience: chat\n    leeway: 0s\n"));
  CHECK(config.auth.jwt.secret.contents == std::string(32, 's'));
  CHECK(config.auth.jwt.secret.path ==
        (std::filesystem::path(folder.write("x", "")).parent_path() / "jwt.secret").string());
  CHECK(config.auth.jwt.public_key.contents.starts_with("-----BEGIN PUBLIC KEY-----"));
  CHECK(config.auth.jwt.public_key.written.key == "auth.jwt.public_key_file");
  CHECK(config.auth.jwt.issuer == "https://auth.example");
  CHECK(config.auth.jwt.audience == "chat");
  CHECK(config.auth.jwt.leeway == 0s);
}

TEST_CASE("jwt: a short HS256 secret, a missing or empty file, a leeway over 5m are refused at the key") {
  const Folder folder;
  folder.write("short.secret", std::string(31, 's') + "\r\n");
  folder.write("empty.secret", "\n");
  const std::string short_secret =
      file_error(folder.config("auth:\n  mode: jwt\n  jwt: {secret_file: short.secret}\n"));
  CHECK(short_secret.find("chat.yaml:5:22: auth.jwt.secret_file: '") != std::string::npos);
  CHECK(short_secret.find("short.secret' holds 31 bytes; an HS256 secret needs at least 32 (RFC 7518 3.2)") !=
        std::string::npos);
  const std::string missing =
      file_error(folder.config("auth:\n  mode: jwt\n  jwt: {public_key_file: nope.pem}\n"));
  CHECK(missing.find("chat.yaml:5:26: auth.jwt.public_key_file: cannot read '") != std::string::npos);
  CHECK(missing.find("nope.pem': No such file or directory") != std::string::npos);
  const std::string empty =
      file_error(folder.config("auth:\n  mode: jwt\n  jwt: {secret_file: empty.secret}\n"));
  CHECK(empty.find("empty.secret' is empty") != std::string::npos);
  CHECK(error_of("auth:\n  jwt: {leeway: 10m}\n") ==
        "test.yaml:2:17: auth.jwt.leeway: expected a duration from 0s to 5m, such as 30s, got '10m'");
  // load_string reads no files: the text alone is checked.
  CHECK(error_of("auth:\n  mode: jwt\n  jwt: {secret_file: short.secret}\n") == "loaded");
}
