// The cluster: section of the config (config/config_loader.cpp, read_cluster): the defaults, every key, and
// each refusal with the FILE:LINE:COLUMN and key it points at. Whether Redis answers is the engine's to find
// at start-up: nothing here needs a Redis.
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

// The message for a bad cluster.redis.address written as `address` on line 1 at column 28.
std::string address_error(const std::string& address, const std::string& problem) {
  const std::string got = "'" + address + "'";
  return "test.yaml:1:28: cluster.redis.address: expected HOST:PORT such as 127.0.0.1:6379, "
         "redis.internal:6379 or \"[::1]:6379\", got " +
         got + (problem.empty() ? "" : " (" + problem + ")");
}

std::string address_error_of(const std::string& address) {
  // Quoted, so that YAML reads '[' and ':' as text.
  return error_of("cluster: {redis: {address: \"" + address + "\"}}");
}

Cluster::Redis redis_of(const std::string& address) {
  return load_string("cluster: {redis: {address: \"" + address + "\"}}").cluster.redis;
}

class Folder {
 public:
  Folder()
      : path_(std::filesystem::temp_directory_path() /
              ("chatd_cluster_config_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~Folder() { std::filesystem::remove_all(path_); }
  std::string path(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, std::string_view contents) const {
    std::ofstream(path_ / name, std::ios::binary) << contents;
    return path(name);
  }
  // chat.yaml with this text from line 3 on.
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

TEST_CASE("no cluster section: engine none, and every default as docs/config.md gives it") {
  const Config config = load_string("", "test.yaml");
  CHECK(config.cluster.engine == Cluster::Engine::none);
  CHECK(config.cluster.redis.host == "127.0.0.1");
  CHECK(config.cluster.redis.port == 6379);
  CHECK(config.cluster.redis.password.path.empty());
  CHECK(config.cluster.redis.password.contents.empty());
  CHECK(config.cluster.redis.prefix == "chatd");
  CHECK(config.cluster.node_ttl == 15s);
  CHECK(config.cluster.unavailable_wait == 1s);
  CHECK(config.cluster.engine_written.line == 0);
  // An empty section and an empty redis map keep the defaults too.
  const Config empty = load_string("cluster:\n", "test.yaml");
  CHECK(empty.cluster.engine == Cluster::Engine::none);
  CHECK(empty.cluster.node_ttl == 15s);
  CHECK(load_string("cluster: {redis: {}}").cluster.redis.prefix == "chatd");
  // A section without engine still names the file and the key, with no position.
  CHECK(empty.cluster.engine_written.file == "test.yaml");
  CHECK(empty.cluster.engine_written.key == "cluster.engine");
  CHECK(empty.cluster.engine_written.line == 0);
}

TEST_CASE("the issue's example section loads, and engine_written points at the engine's value") {
  const Config config = load_string(
      "cluster:\n"
      "  engine: redis            # none (default)\n"
      "  redis: { address: 127.0.0.1:6379, password_file: \"\", prefix: chatd }\n"
      "  node_ttl: 15s\n"
      "  unavailable_wait: 1s\n",
      "chat.yaml");
  CHECK(config.cluster.engine == Cluster::Engine::redis);
  CHECK(config.cluster.redis.host == "127.0.0.1");
  CHECK(config.cluster.redis.port == 6379);
  CHECK(config.cluster.redis.password.path.empty());  // "" = no AUTH
  CHECK(config.cluster.redis.prefix == "chatd");
  CHECK(config.cluster.node_ttl == 15s);
  CHECK(config.cluster.unavailable_wait == 1s);
  CHECK(config.cluster.engine_written.file == "chat.yaml");
  CHECK(config.cluster.engine_written.key == "cluster.engine");
  CHECK(config.cluster.engine_written.line == 2);
  CHECK(config.cluster.engine_written.column == 11);
  CHECK(load_string("cluster: {engine: none}").cluster.engine == Cluster::Engine::none);
}

TEST_CASE("every key is read") {
  const Config config = load_string(
      "cluster:\n  engine: redis\n  redis:\n    address: redis.internal:6380\n    prefix: prod-1.chat_x\n"
      "  node_ttl: 1m\n  unavailable_wait: 250ms\n");
  CHECK(config.cluster.engine == Cluster::Engine::redis);
  CHECK(config.cluster.redis.host == "redis.internal");
  CHECK(config.cluster.redis.port == 6380);
  CHECK(config.cluster.redis.prefix == "prod-1.chat_x");
  CHECK(config.cluster.node_ttl == 60s);
  CHECK(config.cluster.unavailable_wait == 250ms);
}

TEST_CASE("addresses: IPv4, bracketed IPv6 (kept without brackets), host names") {
  CHECK(redis_of("10.1.2.3:1").host == "10.1.2.3");
  CHECK(redis_of("10.1.2.3:1").port == 1);
  CHECK(redis_of("[::1]:6379").host == "::1");
  CHECK(redis_of("[2001:db8::7]:65535").host == "2001:db8::7");
  CHECK(redis_of("[2001:db8::7]:65535").port == 65535);
  CHECK(redis_of("redis:6379").host == "redis");
  CHECK(redis_of("my_redis:6379").host == "my_redis");  // a Docker Compose service name
  CHECK(redis_of("redis.example.com.:6379").host == "redis.example.com.");
  CHECK(redis_of("r2-d2.example:6379").host == "r2-d2.example");
  CHECK(redis_of("6redis:6379").host == "6redis");  // digits may lead a label (RFC 1123 2.1)
  const std::string label63(63, 'a');
  CHECK(redis_of(label63 + ".example:6379").host == label63 + ".example");
  // 253 characters: four labels of 62 and one of 1, between four dots.
  const std::string longest = std::string(62, 'a') + "." + std::string(62, 'b') + "." + std::string(62, 'c') +
                              "." + std::string(62, 'd') + ".e";
  REQUIRE(longest.size() == 253);
  CHECK(redis_of(longest + ":6379").host == longest);
  // Unquoted, as chat.yaml writes it (a ':' followed by a digit stays inside a plain scalar).
  CHECK(load_string("cluster:\n  redis:\n    address: redis.local:7000\n").cluster.redis.port == 7000);
}

TEST_CASE("an address that is not HOST:PORT is refused at its value, saying why") {
  CHECK(address_error_of("localhost") == address_error("localhost", "no ':PORT'; Redis's own is 6379"));
  CHECK(address_error_of("127.0.0.1") == address_error("127.0.0.1", "no ':PORT'; Redis's own is 6379"));
  CHECK(address_error_of(":6379") == address_error(":6379", "no host before the ':'"));
  CHECK(address_error_of("redis:") ==
        address_error("redis:", "the port must be a whole number from 1 to 65535"));
  CHECK(address_error_of("redis:0") ==
        address_error("redis:0", "the port must be a whole number from 1 to 65535"));
  CHECK(address_error_of("redis:65536") ==
        address_error("redis:65536", "the port must be a whole number from 1 to 65535"));
  CHECK(address_error_of("redis:+80") ==
        address_error("redis:+80", "the port must be a whole number from 1 to 65535"));
  CHECK(address_error_of("redis:80x") ==
        address_error("redis:80x", "the port must be a whole number from 1 to 65535"));
  CHECK(address_error_of("::1:6379") ==
        address_error("::1:6379", "an IPv6 address is written in brackets: \"[::1]:6379\""));
  CHECK(address_error_of("[::1]") == address_error("[::1]", "no ':PORT' after the ']'"));
  CHECK(address_error_of("[::1]6379") == address_error("[::1]6379", "no ':PORT' after the ']'"));
  CHECK(address_error_of("[::1:6379") == address_error("[::1:6379", "no ']' after the IPv6 address"));
  CHECK(address_error_of("[redis]:6379") == address_error("[redis]:6379", "'redis' is not an IPv6 address"));
  CHECK(address_error_of("[127.0.0.1]:6379") ==
        address_error("[127.0.0.1]:6379", "'127.0.0.1' is not an IPv6 address"));
  CHECK(address_error_of("") == address_error("", "no ':PORT'; Redis's own is 6379"));
}

TEST_CASE("a host that is neither an IPv4 address nor a host name is refused") {
  const std::string not_a_name =
      " is not a host name: each part between dots is 1 to 63 letters, digits, '-' or '_', and neither "
      "starts "
      "nor ends with '-'";
  CHECK(address_error_of("-redis:6379") == address_error("-redis:6379", "'-redis'" + not_a_name));
  CHECK(address_error_of("redis-:6379") == address_error("redis-:6379", "'redis-'" + not_a_name));
  CHECK(address_error_of("re dis:6379") == address_error("re dis:6379", "'re dis'" + not_a_name));
  CHECK(address_error_of("a..b:6379") == address_error("a..b:6379", "'a..b'" + not_a_name));
  CHECK(address_error_of(".redis:6379") == address_error(".redis:6379", "'.redis'" + not_a_name));
  CHECK(address_error_of("redis/0:6379") == address_error("redis/0:6379", "'redis/0'" + not_a_name));
  // The value is shown cut at 60 characters; the host in the reason in full.
  const std::string label64 = std::string(64, 'a') + ".example";
  CHECK(address_error_of(label64 + ":6379") ==
        address_error(label64.substr(0, 60) + "...", "'" + label64 + "'" + not_a_name));
  const std::string too_long = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                               std::string(63, 'c') + "." + std::string(62, 'd');
  REQUIRE(too_long.size() == 254);
  CHECK(address_error_of(too_long + ":1") ==
        address_error(too_long.substr(0, 60) + "...",
                      "'" + too_long + "' is longer than 253 characters, the most a host name has"));
  // An all-digit last label makes it an IPv4 address, which must be one inet_pton reads.
  const std::string not_ipv4 = " is not an IPv4 address (four numbers from 0 to 255, no leading zeros)";
  CHECK(address_error_of("999.0.0.1:6379") == address_error("999.0.0.1:6379", "'999.0.0.1'" + not_ipv4));
  CHECK(address_error_of("127.1:6379") == address_error("127.1:6379", "'127.1'" + not_ipv4));
  CHECK(address_error_of("10.0.0.010:6379") == address_error("10.0.0.010:6379", "'10.0.0.010'" + not_ipv4));
  CHECK(address_error_of("redis.example.42:6379") ==
        address_error("redis.example.42:6379", "'redis.example.42'" + not_ipv4));
}

TEST_CASE("an address given a list or a map is refused; an unquoted [v6]:port is a YAML error") {
  CHECK(error_of("cluster:\n  redis:\n    address: [\"::1\"]\n") ==
        "test.yaml:3:14: cluster.redis.address: expected HOST:PORT such as 127.0.0.1:6379, "
        "redis.internal:6379 or \"[::1]:6379\", got a list");
  CHECK(error_of("cluster:\n  redis:\n    address: [::1]:6379\n").starts_with("test.yaml:3:"));
}

TEST_CASE("prefix: 1 to 32 characters of A-Za-z0-9._- and never ':', '{' or '}'") {
  CHECK(load_string("cluster: {redis: {prefix: a.B_9-z}}").cluster.redis.prefix == "a.B_9-z");
  CHECK(load_string("cluster: {redis: {prefix: " + std::string(32, 'p') + "}}").cluster.redis.prefix ==
        std::string(32, 'p'));
  const std::string expected =
      "expected 1 to 32 characters from A-Z, a-z, 0-9, '.', '_' and '-' (no ':', '{' or '}', which the keys "
      "are "
      "made of), got ";
  CHECK(error_of("cluster:\n  redis:\n    prefix: \"chat:prod\"\n") ==
        "test.yaml:3:13: cluster.redis.prefix: " + expected + "'chat:prod'");
  CHECK(error_of("cluster:\n  redis:\n    prefix: \"{chat}\"\n") ==
        "test.yaml:3:13: cluster.redis.prefix: " + expected + "'{chat}'");
  CHECK(error_of("cluster:\n  redis:\n    prefix: \"chat}\"\n") ==
        "test.yaml:3:13: cluster.redis.prefix: " + expected + "'chat}'");
  CHECK(error_of("cluster:\n  redis:\n    prefix: \"\"\n") ==
        "test.yaml:3:13: cluster.redis.prefix: " + expected + "''");
  CHECK(error_of("cluster:\n  redis:\n    prefix: \"chat prod\"\n") ==
        "test.yaml:3:13: cluster.redis.prefix: " + expected + "'chat prod'");
  CHECK(error_of("cluster:\n  redis:\n    prefix: " + std::string(33, 'p') + "\n") ==
        "test.yaml:3:13: cluster.redis.prefix: " + expected + "'" + std::string(33, 'p') + "'");
}

TEST_CASE("node_ttl: from 3s to 1h") {
  CHECK(load_string("cluster: {node_ttl: 3s}").cluster.node_ttl == 3s);
  CHECK(load_string("cluster: {node_ttl: 1h}").cluster.node_ttl == 1h);
  CHECK(load_string("cluster: {node_ttl: 20}").cluster.node_ttl == 20s);  // a bare number is seconds
  const std::string expected =
      "test.yaml:2:13: cluster.node_ttl: expected a duration from 3s to 1h, such as 15s, got ";
  CHECK(error_of("cluster:\n  node_ttl: 2999ms\n") == expected + "'2999ms'");
  CHECK(error_of("cluster:\n  node_ttl: 3601s\n") == expected + "'3601s'");
  CHECK(error_of("cluster:\n  node_ttl: 0s\n") == expected + "'0s'");
  CHECK(error_of("cluster:\n  node_ttl: 15sec\n") ==
        expected + "'15sec' (unknown unit 'sec', use ms, s, m, h or d)");
  CHECK(error_of("cluster:\n  node_ttl: [15s]\n") == expected + "a list");
}

TEST_CASE("unavailable_wait: more than 0 and less than node_ttl") {
  CHECK(load_string("cluster: {unavailable_wait: 14999ms}").cluster.unavailable_wait == 14999ms);
  CHECK(load_string("cluster: {unavailable_wait: 1ms}").cluster.unavailable_wait == 1ms);
  // The least node_ttl with the default wait: the default must stay under it.
  const Config least = load_string("cluster: {node_ttl: 3s}");
  CHECK(least.cluster.unavailable_wait == 1s);
  CHECK(load_string("cluster: {node_ttl: 3s, unavailable_wait: 2999ms}").cluster.unavailable_wait == 2999ms);
  CHECK(
      error_of("cluster:\n  unavailable_wait: 0s\n") ==
      "test.yaml:2:21: cluster.unavailable_wait: expected a duration > 0 such as 5s, 250ms or 2m, got '0s'");
  CHECK(
      error_of("cluster:\n  unavailable_wait: soon\n") ==
      "test.yaml:2:21: cluster.unavailable_wait: expected a duration > 0 such as 5s, 250ms or 2m, got 'soon' "
      "(does not start with a number)");
  CHECK(error_of("cluster:\n  unavailable_wait: 15s\n") ==
        "test.yaml:2:21: cluster.unavailable_wait: expected a duration > 0 and less than cluster.node_ttl "
        "(15s, "
        "the default), got '15s'");
  // Blamed whether it is written before or after node_ttl.
  CHECK(error_of("cluster:\n  unavailable_wait: 5s\n  node_ttl: 5s\n") ==
        "test.yaml:2:21: cluster.unavailable_wait: expected a duration > 0 and less than cluster.node_ttl "
        "(5s), "
        "got '5s'");
  CHECK(error_of("cluster:\n  node_ttl: 4s\n  unavailable_wait: 10s\n") ==
        "test.yaml:3:21: cluster.unavailable_wait: expected a duration > 0 and less than cluster.node_ttl "
        "(4s), "
        "got '10s'");
}

TEST_CASE("engine: none or redis, nothing else") {
  CHECK(error_of("cluster:\n  engine: sqlite\n") ==
        "test.yaml:2:11: cluster.engine: expected none or redis, got 'sqlite'");
  CHECK(error_of("cluster:\n  engine: Redis\n") ==
        "test.yaml:2:11: cluster.engine: expected none or redis, got 'Redis'");
  CHECK(error_of("cluster:\n  engine:\n") ==
        "test.yaml:2:3: cluster.engine: expected none or redis, got nothing");
}

TEST_CASE("unknown keys are refused at the key, with the known ones") {
  CHECK(
      error_of("cluster:\n  engine: redis\n  nodes: 3\n") ==
      "test.yaml:3:3: cluster.nodes: unknown key 'nodes' (known: engine, redis, node_ttl, unavailable_wait)");
  // The config's fields are host and port; the user writes address.
  CHECK(error_of("cluster:\n  redis:\n    host: 10.0.0.1\n") ==
        "test.yaml:3:5: cluster.redis.host: unknown key 'host' (known: address, password_file, prefix)");
  CHECK(error_of("cluster:\n  redis:\n    password: hunter2\n") ==
        "test.yaml:3:5: cluster.redis.password: unknown key 'password' (known: address, password_file, "
        "prefix)");
  CHECK(error_of("cluster:\n  node_ttl: 15s\n  node_ttl: 20s\n") ==
        "test.yaml:3:3: cluster.node_ttl: key 'node_ttl' is given twice (first on line 2)");
  CHECK(error_of("cluster: [redis]\n") ==
        "test.yaml:1:10: cluster: expected a map with keys engine, redis, node_ttl, unavailable_wait, got a "
        "list");
  CHECK(error_of("cluster:\n  redis: 127.0.0.1:6379\n") ==
        "test.yaml:2:10: cluster.redis: expected a map with keys address, password_file, prefix, got "
        "'127.0.0.1:6379'");
}

TEST_CASE("history.durability sync written with engine redis is refused at it, in either order") {
  const std::string problem =
      "history.durability: sync durability is SQLite's; with cluster.engine redis every event is in Redis "
      "before it is delivered";
  CHECK(error_of("history:\n  durability: sync\ncluster:\n  engine: redis\n") ==
        "test.yaml:2:15: " + problem);
  CHECK(error_of("cluster: {engine: redis}\nhistory:\n  store: sqlite\n  durability: sync\n") ==
        "test.yaml:4:15: " + problem);
  // Only that combination: sync with engine none, batch with redis, and the rest of history with redis load.
  CHECK(load_string("history: {durability: sync}\ncluster: {engine: none}\n").history.durability ==
        History::Durability::sync);
  const Config redis = load_string(
      "history: {store: sqlite, path: /var/lib/chatd/chat.db, durability: batch, max_events: 50}\n"
      "cluster: {engine: redis}\n");
  CHECK(redis.cluster.engine == Cluster::Engine::redis);
  CHECK(redis.history.store == History::Store::sqlite);
  CHECK(redis.history.path == "/var/lib/chatd/chat.db");
  CHECK(redis.history.durability == History::Durability::batch);
  CHECK(redis.history.max_events == 50);
}

TEST_CASE("password_file: read relative to the config, one trailing newline dropped; \"\" is none") {
  const Folder folder;
  folder.write("redis.password", "s3cret pass\r\n");
  const Config config = load_file(folder.config("cluster:\n  redis:\n    password_file: redis.password\n"));
  CHECK(config.cluster.redis.password.path == folder.path("redis.password"));
  CHECK(config.cluster.redis.password.contents == "s3cret pass");
  CHECK(config.cluster.redis.password.written.key == "cluster.redis.password_file");
  CHECK(config.cluster.redis.password.written.line == 5);
  CHECK(config.cluster.redis.password.written.column == 20);
  const Config none = load_file(folder.config("cluster: {redis: {password_file: \"\"}}\n"));
  CHECK(none.cluster.redis.password.path.empty());
  CHECK(none.cluster.redis.password.contents.empty());
  // load_string reads no files: the path is resolved, the file is not opened.
  const Config text_only = load_string("cluster: {redis: {password_file: nope}}", "c.yaml", "/etc/chatd");
  CHECK(text_only.cluster.redis.password.path == "/etc/chatd/nope");
  CHECK(text_only.cluster.redis.password.contents.empty());
}

TEST_CASE("password_file: a missing or empty file, or one that is not a file, is refused at the key") {
  const Folder folder;
  folder.write("empty.password", "\n");
  std::filesystem::create_directories(folder.path("a-folder"));
  CHECK(file_error(folder.config("cluster:\n  redis:\n    password_file: missing.password\n")) ==
        folder.path("chat.yaml") + ":5:20: cluster.redis.password_file: cannot read '" +
            folder.path("missing.password") + "': No such file or directory");
  CHECK(file_error(folder.config("cluster:\n  redis:\n    password_file: empty.password\n")) ==
        folder.path("chat.yaml") + ":5:20: cluster.redis.password_file: '" + folder.path("empty.password") +
            "' is empty");
  CHECK(file_error(folder.config("cluster:\n  redis:\n    password_file: a-folder\n")) ==
        folder.path("chat.yaml") + ":5:20: cluster.redis.password_file: cannot read '" +
            folder.path("a-folder") + "': not a regular file");
  CHECK(
      error_of("cluster:\n  redis:\n    password_file: [a]\n") ==
      "test.yaml:3:20: cluster.redis.password_file: expected a file holding the Redis password, or \"\" for "
      "none, got a list");
}
