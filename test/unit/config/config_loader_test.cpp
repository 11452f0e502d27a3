// Unit tests of the config loader (config/config_loader.cpp); the unit parsers are in units_test.cpp.
#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.hpp"

using namespace chatd::config;
using namespace std::chrono_literals;

namespace {

// Loads `yaml` (named "test.yaml" in messages) and returns the ConfigError it must throw.
ConfigError error_of(std::string_view yaml) {
  try {
    load_string(yaml, "test.yaml");
  } catch (const ConfigError& error) {
    return error;
  }
  throw std::runtime_error("expected a ConfigError, but this config loaded:\n" + std::string(yaml));
}

std::string message_of(std::string_view yaml) {
  return error_of(yaml).what();
}

// The ConfigError message `load` throws ("loaded" if it throws none), got from a child process that is
// killed unless it has finished within `time_limit`. yaml-cpp 0.7 never returns on some inputs, and
// reading a device may never end, so such a test fails in bounded time instead of hanging.
template <typename Load>
std::string error_within(std::chrono::milliseconds time_limit, Load load) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Nothing may escape the child: doctest would catch it and run the remaining tests in it too.
    std::string message = "loaded";
    try {
      load();
    } catch (const ConfigError& error) {
      message = error.what();
    } catch (const std::exception& error) {
      message = std::string("not a ConfigError: ") + error.what();
    } catch (...) {
      message = "not a ConfigError";
    }
    const ssize_t written = ::write(pipe_fds[1], message.data(), message.size());
    ::_exit(written == static_cast<ssize_t>(message.size()) ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  pollfd readable{pipe_fds[0], POLLIN, 0};
  std::string message = "did not finish within " + std::to_string(time_limit.count()) + " ms";
  if (::poll(&readable, 1, static_cast<int>(time_limit.count())) == 1) {
    message.clear();  // stays empty if the child died without a word
    char buffer[4096];
    ssize_t count = 0;
    while ((count = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0)
      message.append(buffer, static_cast<std::size_t>(count));
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(pipe_fds[0]);
  return message;
}

// A folder of its own under the system temp folder, removed with everything in it at the end of a test.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("chatd_config_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, std::string_view contents) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream(file) << contents;
    return file.string();
  }
  std::string make_folder(const std::string& name) const {
    std::filesystem::create_directories(path_ / name);
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// The message load_file(path) throws.
std::string message_of_file(const std::string& path) {
  try {
    load_file(path);
  } catch (const ConfigError& error) {
    return error.what();
  }
  throw std::runtime_error("expected a ConfigError, but " + path + " loaded");
}

void check_defaults(const Config& config) {
  CHECK(config.listen.address == "127.0.0.1");
  CHECK(config.listen.port == 8080);
  CHECK(config.server.threads == 0);
  CHECK(config.routes.subscribe == "/subscribe");
  CHECK(config.routes.publish == "/publish");
  CHECK(config.routes.health == "/healthz");
  CHECK(config.routes.static_files == "/");
  CHECK(config.rooms.default_room == "general");
  CHECK(config.rooms.dynamic == true);
  CHECK(config.rooms.max == 10000);
  CHECK(config.rooms.names == std::vector<std::string>{"general"});
  CHECK(config.rooms.idle_timeout == 5min);
  CHECK(config.rooms.create_rate == 20.0);
  CHECK(config.rooms.create_burst == 200.0);
  CHECK(config.subscriber.queue == 4096);
  CHECK(config.subscriber.queue_bytes == 1024 * 1024);
  CHECK(config.subscriber.write_timeout == 5s);
  CHECK(config.subscriber.ping_interval == 30s);
  CHECK(config.subscriber.allowed_origins.empty());
  CHECK(config.publish.rate == 10.0);
  CHECK(config.publish.burst == 8.0);
  CHECK(config.limits.max_message_size == 65536);
  CHECK(config.limits.max_header_size == 8192);
  CHECK(config.limits.max_queued_bytes == 512u * 1024 * 1024);
  CHECK(config.limits.max_connections == 20000);
  CHECK(config.limits.max_connections_per_ip == 0);
  CHECK(config.limits.header_timeout == 10s);
  CHECK(config.limits.body_timeout == 30s);
  CHECK(config.limits.handshake_rate == 100.0);
  CHECK(config.limits.handshake_burst == 1000.0);
  CHECK(config.static_files.root == "static");
  CHECK(config.routes.presence == "/presence");
  CHECK(config.routes.history == "/history");
  CHECK(config.routes.events == "/events");
  CHECK(config.history.store == History::Store::sqlite);
  CHECK(std::filesystem::path(config.history.path).filename() == "chat.db");
  CHECK(config.history.max_events == 10000);
  CHECK(config.history.max_age == std::chrono::hours(24 * 30));
  CHECK(config.history.durability == History::Durability::batch);
  CHECK(config.history.flush_interval == 50ms);
  CHECK(config.log.level == LogLevel::info);
  CHECK(config.cluster.engine == Cluster::Engine::none);
  CHECK(config.cluster.redis.host == "127.0.0.1");
  CHECK(config.cluster.redis.port == 6379);
  CHECK(config.cluster.redis.password.path.empty());
  CHECK(config.cluster.redis.prefix == "chatd");
  CHECK(config.cluster.node_ttl == 15s);
  CHECK(config.cluster.unavailable_wait == 1s);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Defaults and a complete file

TEST_CASE("an empty config is all defaults") {
  check_defaults(load_string(""));
}

TEST_CASE("a config of only comments and blank lines is all defaults") {
  check_defaults(load_string("# nothing here\n\n   # still nothing\n"));
}

TEST_CASE("an empty section keeps that section's defaults") {
  check_defaults(load_string("listen:\nlog:\n"));
  check_defaults(load_string("listen: {}\nrooms: {}\n"));
}

TEST_CASE("the example chat.yaml loads and holds exactly the defaults") {
  // Tests run from the build folder or the source root; find the example either way.
  std::string path = "chat.yaml";
  for (const char* candidate : {"chat.yaml", "../chat.yaml", "../../chat.yaml"}) {
    if (std::filesystem::exists(candidate)) {
      path = candidate;
      break;
    }
  }
  if (!std::filesystem::exists(path)) {
    MESSAGE("chat.yaml not found from ", std::filesystem::current_path().string(), "; skipped");
    return;
  }
  Config config = load_file(path);
  // The only difference from load_string("") is where static.root is resolved.
  config.static_files.root = std::filesystem::path(config.static_files.root).filename().string();
  check_defaults(config);
}

TEST_CASE("every key is read") {
  const Config config = load_string(R"yaml(
listen:
  address: 0.0.0.0
  port: 9000
server:
  threads: 4
routes:
  subscribe: /ws
  publish: /api/publish
  health: /health
  static: /files/
  events: /sse
rooms:
  default: lobby
  dynamic: false
  max: 3
  names: [lobby, random.chat, dev_ops-2]
subscriber:
  queue: 100
  queue_bytes: 2MiB
  write_timeout: 1500ms
  ping_interval: 1m
  allowed_origins:
    - https://example.com
    - http://localhost:3000
publish:
  rate: 2.5
  burst: 20
limits:
  max_message_size: 1MiB
  max_header_size: 4096
static:
  root: /srv/www
log:
  level: debug
)yaml");

  CHECK(config.listen.address == "0.0.0.0");
  CHECK(config.listen.port == 9000);
  CHECK(config.server.threads == 4);
  CHECK(config.routes.subscribe == "/ws");
  CHECK(config.routes.publish == "/api/publish");
  CHECK(config.routes.health == "/health");
  CHECK(config.routes.static_files == "/files/");
  CHECK(config.routes.events == "/sse");
  CHECK(config.rooms.default_room == "lobby");
  CHECK(config.rooms.dynamic == false);
  CHECK(config.rooms.max == 3);
  CHECK(config.rooms.names == std::vector<std::string>{"lobby", "random.chat", "dev_ops-2"});
  CHECK(config.subscriber.queue == 100);
  CHECK(config.subscriber.queue_bytes == 2 * 1024 * 1024);
  CHECK(config.subscriber.write_timeout == 1500ms);
  CHECK(config.subscriber.ping_interval == 60s);
  CHECK(config.subscriber.allowed_origins ==
        std::vector<std::string>{"https://example.com", "http://localhost:3000"});
  CHECK(config.publish.rate == 2.5);
  CHECK(config.publish.burst == 20.0);
  CHECK(config.limits.max_message_size == 1024 * 1024);
  CHECK(config.limits.max_header_size == 4096);
  CHECK(config.static_files.root == "/srv/www");
  CHECK(config.log.level == LogLevel::debug);
}

TEST_CASE("keys not given keep their defaults next to keys that are") {
  const Config config = load_string("listen:\n  port: 0\nsubscriber:\n  queue: 1\n");
  CHECK(config.listen.port == 0);
  CHECK(config.listen.address == "127.0.0.1");
  CHECK(config.subscriber.queue == 1);
  CHECK(config.subscriber.write_timeout == 5s);
}

TEST_CASE("each log level is read") {
  CHECK(load_string("log: {level: debug}").log.level == LogLevel::debug);
  CHECK(load_string("log: {level: info}").log.level == LogLevel::info);
  CHECK(load_string("log: {level: warn}").log.level == LogLevel::warn);
  CHECK(load_string("log: {level: error}").log.level == LogLevel::error);
}

TEST_CASE("range limits that are allowed") {
  CHECK(load_string("listen: {port: 65535}").listen.port == 65535);
  CHECK(load_string("server: {threads: 1024}").server.threads == 1024);
  CHECK(load_string("subscriber: {queue: 1000000}").subscriber.queue == 1000000);
  CHECK(load_string("limits: {max_message_size: 1}").limits.max_message_size == 1);
  CHECK(load_string("limits: {max_message_size: 1GiB}").limits.max_message_size == 1073741824);
  CHECK(load_string("limits: {max_header_size: 256}").limits.max_header_size == 256);
  CHECK(load_string("limits: {max_header_size: 12KiB}").limits.max_header_size == 12288);
  CHECK(load_string("publish: {rate: 0.001, burst: 1}").publish.rate == 0.001);
  CHECK(load_string("publish: {rate: 0.001, burst: 1}").publish.burst == 1.0);
  CHECK(load_string("subscriber: {write_timeout: 1ms}").subscriber.write_timeout == 1ms);
  CHECK(load_string("subscriber: {ping_interval: 2}").subscriber.ping_interval == 2s);
  CHECK(load_string("rooms: {names: []}").rooms.names.empty());
  CHECK(load_string("subscriber: {allowed_origins: []}").subscriber.allowed_origins.empty());
}

// ---------------------------------------------------------------------------------------------------------
// Error format

TEST_CASE("ConfigError formats FILE:LINE:COLUMN: KEY: problem and keeps the parts") {
  const ConfigError error("chat.yaml", "listen.port", 3, 9, "expected a whole number");
  CHECK(std::string(error.what()) == "chat.yaml:3:9: listen.port: expected a whole number");
  CHECK(error.file() == "chat.yaml");
  CHECK(error.key() == "listen.port");
  CHECK(error.line() == 3);
  CHECK(error.column() == 9);
}

TEST_CASE("ConfigError leaves out an unknown position and an empty key") {
  CHECK(std::string(ConfigError("a.yaml", "", 0, 0, "cannot read").what()) == "a.yaml: cannot read");
  CHECK(std::string(ConfigError("a.yaml", "", 2, 5, "bad syntax").what()) == "a.yaml:2:5: bad syntax");
  CHECK(std::string(ConfigError("a.yaml", "log", 0, 0, "odd").what()) == "a.yaml: log: odd");
}

TEST_CASE("the file name given to load_string is used in messages") {
  try {
    load_string("log: {level: loud}", "custom.yaml");
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    CHECK(error.file() == "custom.yaml");
    CHECK(std::string(error.what()).rfind("custom.yaml:1:14: log.level: ", 0) == 0);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Unknown keys

TEST_CASE("an unknown top-level key names itself, the known keys, and its position") {
  const ConfigError error = error_of("listen:\n  port: 80\nlisten_port: 80\n");
  CHECK(error.key() == "listen_port");
  CHECK(error.line() == 3);
  CHECK(error.column() == 1);
  CHECK(std::string(error.what()) ==
        "test.yaml:3:1: listen_port: unknown key 'listen_port' (known: listen, server, routes, rooms, "
        "subscriber, publish, limits, static, history, log, auth, cluster, admin)");
}

TEST_CASE("an unknown nested key points at the key") {
  const ConfigError error = error_of(R"yaml(subscriber:
  queue: 4
  # a comment line
    
  queu: 5
)yaml");
  CHECK(error.key() == "subscriber.queu");
  CHECK(error.line() == 5);
  CHECK(error.column() == 3);
  CHECK(std::string(error.what()) ==
        "test.yaml:5:3: subscriber.queu: unknown key 'queu' (known: queue, queue_bytes, write_timeout, "
        "ping_interval, "
        "allowed_origins)");
}

TEST_CASE("an unknown key in a flow map points at the key") {
  const ConfigError error = error_of("log: {level: info, format: json}");
  CHECK(error.key() == "log.format");
  CHECK(error.line() == 1);
  CHECK(error.column() == 20);
}

TEST_CASE("unknown keys are caught in every section") {
  CHECK(error_of("listen: {host: x}").key() == "listen.host");
  CHECK(error_of("server: {workers: 2}").key() == "server.workers");
  CHECK(error_of("routes: {ws: /ws}").key() == "routes.ws");
  CHECK(error_of("rooms: {list: []}").key() == "rooms.list");
  CHECK(error_of("publish: {per_second: 1}").key() == "publish.per_second");
  CHECK(error_of("limits: {max_body: 1}").key() == "limits.max_body");
  CHECK(error_of("static: {dir: x}").key() == "static.dir");
}

TEST_CASE("a key given twice is an error at the second one") {
  const ConfigError error = error_of("listen:\n  port: 80\n  port: 81\n");
  CHECK(error.key() == "listen.port");
  CHECK(error.line() == 3);
  CHECK(error.column() == 3);
  CHECK(std::string(error.what()) ==
        "test.yaml:3:3: listen.port: key 'port' is given twice (first on line 2)");
}

TEST_CASE("a section given twice is an error") {
  const ConfigError error = error_of("log: {level: info}\nlog: {level: warn}\n");
  CHECK(error.key() == "log");
  CHECK(error.line() == 2);
}

// ---------------------------------------------------------------------------------------------------------
// Structure and syntax errors

TEST_CASE("a YAML syntax error gives the position and yaml-cpp's message") {
  const ConfigError error = error_of("rooms:\n  names: [a, b\n");
  CHECK(error.key().empty());
  CHECK(error.line() == 3);
  CHECK(error.column() == 1);
  CHECK(std::string(error.what()) == "test.yaml:3:1: end of sequence flow not found");
}

TEST_CASE("control characters in a key or value are written as \\xNN, so the message is whole") {
  // Found by test/fuzz/config (corpus/config/regress_nul_in_key): a key starting with a NUL byte cut what()
  // short after the position.
  using namespace std::string_literals;
  const ConfigError error = error_of(
      "%\n\0"
      "0limits !!srt: !0!strvr(80.\n"s);
  CHECK(error.line() == 2);
  const std::string message = error.what();
  CHECK(message.starts_with("test.yaml:2:1: \\x00"));
  CHECK(message.find("limits !!srt: unknown key '\\x00") != std::string::npos);
  CHECK(message.ends_with(
      "(known: listen, server, routes, rooms, subscriber, publish, limits, static, history, log, "
      "auth, cluster, admin)"));
  CHECK(message_of("log:\n  level: \"de\\tbug\"\n") ==
        "test.yaml:2:10: log.level: expected one of debug, info, warn, error, got 'de\\x09bug'");
}

TEST_CASE("a bad indentation is a syntax error on its line") {
  const ConfigError error = error_of("listen:\n  port: 80\n address: x\n");
  CHECK(error.key().empty());
  CHECK(error.line() == 3);
}

TEST_CASE("more than one YAML document is an error") {
  const ConfigError error = error_of("log: {level: info}\n---\nlog: {level: warn}\n");
  CHECK(error.key().empty());
  CHECK(error.line() == 3);
  CHECK(std::string(error.what()).find("expected a single YAML document, found 2") != std::string::npos);
}

// yaml-cpp 0.7 bug: YAML::LoadAll never returns on these, allocating until the process dies.
TEST_CASE("a ',' outside [ ] and { } is an error, not a YAML parser that never finishes") {
  const std::string problem =
      ": the YAML parser did not finish (yaml-cpp 0.7 bug with a ',' outside [ ] and { }: it reads an empty "
      "document here again and again); remove the ','";
  const std::pair<std::string_view, std::string> cases[] = {
      {",\n", "test.yaml:1:1"},
      {" ,]", "test.yaml:1:2"},
      {" &x,x]", "test.yaml:1:4"},
      {"[a],", "test.yaml:1:4"},
      {"listen: {port: 1}\n--- ,\n", "test.yaml:2:5"},
  };
  for (const auto& [yaml, position] : cases) {
    CAPTURE(yaml);
    CHECK(error_within(5s, [yaml = yaml] { load_string(yaml, "test.yaml"); }) == position + problem);
  }
  // Commas where YAML allows them are untouched.
  CHECK(load_string("rooms: {names: [a, b], max: 5}").rooms.names == std::vector<std::string>{"a", "b"});
  CHECK(load_string("subscriber: {allowed_origins: [\"a,b\"]}").subscriber.allowed_origins ==
        std::vector<std::string>{"a,b"});
  CHECK(message_of("a, b") ==
        "test.yaml:1:1: expected a map of sections (listen, server, routes, ...), got 'a, b'");
}

TEST_CASE("a config larger than max_config_size is refused before it is parsed") {
  const std::string line = "# a comment line of 32 bytes...\n";
  std::string largest;
  while (largest.size() < max_config_size) largest += line;
  largest.resize(max_config_size);
  CHECK_NOTHROW(load_string(largest));
  CHECK(message_of(largest + "\n") ==
        "test.yaml: larger than 1048576 bytes (1 MiB), the most chatd reads as a config");
  // A file stops being read there: a larger one is refused the same way.
  TempDir dir;
  const std::string path = dir.write("huge.yaml", largest + largest);
  CHECK(error_within(5s, [&] { load_file(path); }) ==
        path + ": larger than 1048576 bytes (1 MiB), the most chatd reads as a config");
}

TEST_CASE("a top level that is not a map is an error") {
  const ConfigError list = error_of("- listen\n- log\n");
  CHECK(list.key().empty());
  CHECK(list.line() == 1);
  CHECK(list.column() == 1);
  CHECK(std::string(list.what()) ==
        "test.yaml:1:1: expected a map of sections (listen, server, routes, ...), got a list");

  CHECK(std::string(error_of("hello").what()) ==
        "test.yaml:1:1: expected a map of sections (listen, server, routes, ...), got 'hello'");
}

TEST_CASE("a section that is not a map is an error at its value") {
  const ConfigError error = error_of("log: {level: info}\nlisten: 8080\n");
  CHECK(error.key() == "listen");
  CHECK(error.line() == 2);
  CHECK(error.column() == 9);
  CHECK(std::string(error.what()) ==
        "test.yaml:2:9: listen: expected a map with keys address, port, got '8080'");

  CHECK(std::string(error_of("rooms:\n  - general\n").what()) ==
        "test.yaml:2:3: rooms: expected a map with keys default, dynamic, max, names, idle_timeout, "
        "create_rate, "
        "create_burst, got a list");
}

TEST_CASE("a key that is not a plain name is an error") {
  const ConfigError error = error_of("listen:\n  ? [a, b]\n  : 1\n");
  CHECK(error.key() == "listen");
  CHECK(error.line() == 2);
  CHECK(error.column() == 5);
}

// ---------------------------------------------------------------------------------------------------------
// Wrong kinds of values

TEST_CASE("a bad value names the key and points at the value") {
  const ConfigError error = error_of(R"yaml(listen:
  port: 8080

subscriber:
  write_timeout: 5s
  queue: abc
)yaml");
  CHECK(error.key() == "subscriber.queue");
  CHECK(error.line() == 6);
  CHECK(error.column() == 10);
  CHECK(std::string(error.what()) ==
        "test.yaml:6:10: subscriber.queue: expected a whole number from 1 to 1000000, got 'abc'");
}

TEST_CASE("a map where a number is expected is an error") {
  const ConfigError error = error_of("listen:\n  port: {number: 80}\n");
  CHECK(error.key() == "listen.port");
  CHECK(error.line() == 2);
  CHECK(error.column() == 9);
  CHECK(std::string(error.what()) ==
        "test.yaml:2:9: listen.port: expected a whole number from 0 to 65535, got a map");
}

TEST_CASE("a list where a string is expected is an error") {
  const ConfigError error = error_of("static:\n  root:\n    - a\n    - b\n");
  CHECK(error.key() == "static.root");
  CHECK(error.line() == 3);
  CHECK(error.column() == 5);
  CHECK(std::string(error.what()) ==
        "test.yaml:3:5: static.root: expected a folder, or \"\" to serve no files, got a list");
}

TEST_CASE("an empty value is an error at its key") {
  const ConfigError error = error_of("listen:\n  port:\n  address: 0.0.0.0\n");
  CHECK(error.key() == "listen.port");
  CHECK(error.line() == 2);
  CHECK(error.column() == 3);
  CHECK(std::string(error.what()) ==
        "test.yaml:2:3: listen.port: expected a whole number from 0 to 65535, got nothing");
  CHECK(error_of("log:\n  level: ~\n").key() == "log.level");
}

TEST_CASE("a list where a list is expected but holding maps is an error at the item") {
  const ConfigError error =
      error_of("subscriber:\n  allowed_origins:\n    - https://a.example\n    - {b: 1}\n");
  CHECK(error.key() == "subscriber.allowed_origins");
  CHECK(error.line() == 4);
  CHECK(error.column() == 7);
  CHECK(std::string(error.what()) ==
        "test.yaml:4:7: subscriber.allowed_origins: expected every item to be a string, got a map as item 2");
}

TEST_CASE("a string where a list is expected is an error") {
  CHECK(std::string(error_of("subscriber: {allowed_origins: https://a.example}").what()) ==
        "test.yaml:1:31: subscriber.allowed_origins: expected a list of origins such as "
        "[\"https://example.com\"], "
        "got 'https://a.example'");
  CHECK(error_of("rooms: {names: general}").key() == "rooms.names");
}

// ---------------------------------------------------------------------------------------------------------
// Bad values, section by section

TEST_CASE("listen values are checked") {
  CHECK(std::string(error_of("listen: {address: ''}").what()) ==
        "test.yaml:1:19: listen.address: expected a non-empty string, got ''");
  CHECK(error_of("listen: {port: 65536}").key() == "listen.port");
  CHECK(error_of("listen: {port: -1}").key() == "listen.port");
  CHECK(error_of("listen: {port: 80.5}").key() == "listen.port");
  CHECK(error_of("listen: {port: 0x50}").key() == "listen.port");
  CHECK(error_of("listen: {port: +80}").key() == "listen.port");
}

TEST_CASE("listen.address must be an IP address: hostnames are not resolved") {
  for (const char* address : {"0.0.0.0", "127.0.0.1", "::", "::1", "fe80::1", "192.168.1.20"}) {
    CAPTURE(address);
    CHECK(load_string(std::string("listen: {address: '") + address + "'}").listen.address == address);
  }
  CHECK(message_of("listen:\n  address: localhost\n") ==
        "test.yaml:2:12: listen.address: 'localhost' is not an IP address (hostnames are not resolved; use "
        "127.0.0.1 or ::1, or 0.0.0.0 or :: for every interface)");
  for (const char* address : {"127.0.0.l", "127.0.0", "256.0.0.1", "[::1]", "::1:", "example.com", " ::1"}) {
    CAPTURE(address);
    CHECK(message_of(std::string("listen: {address: '") + address + "'}")
              .find(std::string("listen.address: '") + address + "' is not an IP address") !=
          std::string::npos);
  }
}

TEST_CASE("server.threads is checked") {
  CHECK(std::string(error_of("server:\n  threads: 1025\n").what()) ==
        "test.yaml:2:12: server.threads: expected a whole number from 0 to 1024, got '1025'");
  CHECK(error_of("server: {threads: many}").key() == "server.threads");
}

TEST_CASE("routes must start with a slash") {
  const ConfigError error = error_of("routes:\n  publish: publish\n");
  CHECK(error.key() == "routes.publish");
  CHECK(error.line() == 2);
  CHECK(error.column() == 12);
  CHECK(std::string(error.what()) ==
        "test.yaml:2:12: routes.publish: expected a URL path starting with '/', such as /publish, got "
        "'publish'");
  CHECK(error_of("routes: {health: ''}").key() == "routes.health");
  CHECK(error_of("routes: {static: files}").key() == "routes.static");
  CHECK(error_of("routes: {subscribe: '/ws?x=1'}").key() == "routes.subscribe");
  CHECK(error_of("routes: {subscribe: '/a b'}").key() == "routes.subscribe");
  CHECK(error_of("routes: {events: events}").key() == "routes.events");
}

TEST_CASE("two routes with the same path are an error at the later one") {
  const ConfigError error = error_of("routes:\n  publish: /x\n  subscribe: /x\n");
  CHECK(error.key() == "routes.subscribe");
  CHECK(error.line() == 3);
  CHECK(error.column() == 14);
  CHECK(std::string(error.what()) ==
        "test.yaml:3:14: routes.subscribe: '/x' is already the path of routes.publish; every route needs its "
        "own path");
}

TEST_CASE("the event stream's route is one more route, and may not share a path") {
  const ConfigError error = error_of("routes:\n  subscribe: /follow\n  events: /follow\n");
  CHECK(error.key() == "routes.events");
  CHECK(error.line() == 3);
  CHECK(std::string(error.what()) ==
        "test.yaml:3:11: routes.events: '/follow' is already the path of routes.subscribe; every route needs "
        "its own path");
  CHECK(error_of("routes: {health: /events}").key() == "routes.health");  // the default is taken
}

TEST_CASE("a route equal to another route's default is an error at the route given") {
  const ConfigError error = error_of("routes:\n  health: /publish\n");
  CHECK(error.key() == "routes.health");
  CHECK(error.line() == 2);
  CHECK(error.column() == 11);
}

TEST_CASE("routes.static may be the prefix '/' while the other routes keep their paths") {
  const Config config = load_string("routes: {static: /, subscribe: /ws}");
  CHECK(config.routes.static_files == "/");
  CHECK(config.routes.subscribe == "/ws");
  CHECK(error_of("routes: {static: /, health: /}").key() == "routes.health");
}

TEST_CASE("room names are checked") {
  CHECK(is_valid_room_name("general"));
  CHECK(is_valid_room_name("A.b_c-9"));
  CHECK(is_valid_room_name("x"));
  CHECK(is_valid_room_name(std::string(64, 'r')));
  CHECK_FALSE(is_valid_room_name(""));
  CHECK_FALSE(is_valid_room_name(std::string(65, 'r')));
  CHECK_FALSE(is_valid_room_name("two words"));
  CHECK_FALSE(is_valid_room_name("a/b"));
  CHECK_FALSE(is_valid_room_name("caf\xc3\xa9"));
  CHECK_FALSE(is_valid_room_name("tab\t"));
}

TEST_CASE("rooms.default must be a valid room name") {
  CHECK(std::string(error_of("rooms:\n  default: 'the lobby'\n").what()) ==
        "test.yaml:2:12: rooms.default: expected a room name of 1 to 64 characters from A-Z, a-z, 0-9, '.', "
        "'_' and '-', got 'the lobby'");
}

TEST_CASE("rooms.names items are checked where they are written") {
  const ConfigError invalid = error_of("rooms:\n  names:\n    - general\n    - 'no spaces'\n");
  CHECK(invalid.key() == "rooms.names");
  CHECK(invalid.line() == 4);
  CHECK(invalid.column() == 7);
  CHECK(std::string(invalid.what()).find("'no spaces' is not a valid room name") != std::string::npos);

  const ConfigError twice = error_of("rooms:\n  names: [a, b, a]\n");
  CHECK(twice.key() == "rooms.names");
  CHECK(twice.line() == 2);
  CHECK(twice.column() == 17);
  CHECK(std::string(twice.what()) == "test.yaml:2:17: rooms.names: room 'a' is listed twice");
}

TEST_CASE("rooms.max must be at least 1 and at least the number of names") {
  CHECK(std::string(error_of("rooms: {max: 0}").what()) ==
        "test.yaml:1:14: rooms.max: expected a whole number >= 1, got '0'");

  const ConfigError too_small = error_of("rooms:\n  names: [a, b, c]\n  max: 2\n");
  CHECK(too_small.key() == "rooms.max");
  CHECK(too_small.line() == 3);
  CHECK(too_small.column() == 8);
  CHECK(std::string(too_small.what()) ==
        "test.yaml:3:8: rooms.max: 2 is less than the 3 rooms listed in rooms.names; raise rooms.max");

  CHECK(load_string("rooms: {names: [a, b, c], max: 3}").rooms.max == 3);
}

TEST_CASE("rooms.dynamic accepts only true and false") {
  CHECK(load_string("rooms: {dynamic: false}").rooms.dynamic == false);
  CHECK(load_string("rooms: {dynamic: true}").rooms.dynamic == true);
  CHECK(std::string(error_of("rooms:\n  dynamic: yes\n").what()) ==
        "test.yaml:2:12: rooms.dynamic: expected true or false, got 'yes'");
  CHECK(error_of("rooms: {dynamic: 1}").key() == "rooms.dynamic");
}

TEST_CASE("with rooms.dynamic false, rooms.default must be one of rooms.names") {
  const ConfigError error = error_of(R"yaml(rooms:
  dynamic: false
  names:
    - lobby
    - random
  default: general
)yaml");
  CHECK(error.key() == "rooms.default");
  CHECK(error.line() == 6);
  CHECK(error.column() == 12);
  CHECK(std::string(error.what()) ==
        "test.yaml:6:12: rooms.default: 'general' is not in rooms.names; with rooms.dynamic false no other "
        "room "
        "can exist, so add it there");
}

TEST_CASE("with rooms.dynamic false and rooms.default not given, the error still names rooms.default") {
  const ConfigError error = error_of("rooms:\n  names: [lobby]\n  dynamic: false\n");
  CHECK(error.key() == "rooms.default");
  CHECK(error.line() == 3);  // at dynamic: false, the setting that made the default room impossible
  CHECK(error.column() == 12);
}

TEST_CASE("with rooms.dynamic false, a default listed in rooms.names is fine") {
  const Config config = load_string("rooms: {dynamic: false, default: lobby, names: [random, lobby]}");
  CHECK(config.rooms.default_room == "lobby");
  CHECK_FALSE(config.rooms.dynamic);
  CHECK(load_string("rooms: {dynamic: false}").rooms.names == std::vector<std::string>{"general"});
}

TEST_CASE("subscriber values are checked") {
  CHECK(error_of("subscriber: {queue: 0}").key() == "subscriber.queue");
  CHECK(error_of("subscriber: {queue: 1000001}").key() == "subscriber.queue");
  CHECK(
      std::string(error_of("subscriber:\n  write_timeout: 0s\n").what()) ==
      "test.yaml:2:18: subscriber.write_timeout: expected a duration > 0 such as 5s, 250ms or 2m, got '0s'");
  CHECK(std::string(error_of("subscriber:\n  ping_interval: 30 sec\n").what()) ==
        "test.yaml:2:18: subscriber.ping_interval: expected a duration > 0 such as 5s, 250ms or 2m, got '30 "
        "sec' "
        "(unknown unit 'sec', use ms, s, m, h or d)");
  CHECK(error_of("subscriber: {ping_interval: -5s}").key() == "subscriber.ping_interval");
  CHECK(error_of("subscriber: {write_timeout: [5s]}").key() == "subscriber.write_timeout");
}

TEST_CASE("publish values are checked") {
  CHECK(std::string(error_of("publish:\n  rate: 0\n").what()) ==
        "test.yaml:2:9: publish.rate: expected a number of messages per second > 0, such as 10 or 0.5, got "
        "'0'");
  CHECK(error_of("publish: {rate: -1}").key() == "publish.rate");
  CHECK(error_of("publish: {rate: fast}").key() == "publish.rate");
  CHECK(error_of("publish: {rate: inf}").key() == "publish.rate");
  CHECK(error_of("publish: {rate: .nan}").key() == "publish.rate");
  CHECK(std::string(error_of("publish: {burst: 0.5}").what()) ==
        "test.yaml:1:18: publish.burst: expected a number of messages >= 1, got '0.5'");
}

TEST_CASE("limits are checked") {
  CHECK(
      std::string(error_of("limits:\n  max_message_size: 0\n").what()) ==
      "test.yaml:2:21: limits.max_message_size: expected a size from 1 byte to 1GiB, such as 65536 or 64KiB, "
      "got '0'");
  CHECK(error_of("limits: {max_message_size: 1073741825}").key() == "limits.max_message_size");
  CHECK(error_of("limits: {max_message_size: 2GiB}").key() == "limits.max_message_size");
  CHECK(
      std::string(error_of("limits: {max_message_size: 64kb}").what()) ==
      "test.yaml:1:28: limits.max_message_size: expected a size from 1 byte to 1GiB, such as 65536 or 64KiB, "
      "got '64kb' (unknown unit 'kb', use B, KiB, MiB, GiB (1024-based) or KB, MB, GB (1000-based))");
  CHECK(error_of("limits: {max_header_size: 255}").key() == "limits.max_header_size");
  CHECK(error_of("limits: {max_header_size: 12289}").key() == "limits.max_header_size");
  CHECK(std::string(error_of("limits: {max_header_size: 16KiB}").what()) ==
        "test.yaml:1:27: limits.max_header_size: expected a size from 256 bytes to 12KiB, such as 8192 or "
        "8KiB, got '16KiB'");
  CHECK(load_string("limits: {max_header_size: 12KB}").limits.max_header_size == 12000);
}

TEST_CASE("static.root and log.level are checked") {
  CHECK(load_string("static:\n  root: ''\n", "x", "/etc/chatd").static_files.root.empty());  // no files
  CHECK(std::string(error_of("log:\n  level: verbose\n").what()) ==
        "test.yaml:2:10: log.level: expected one of debug, info, warn, error, got 'verbose'");
  CHECK(error_of("log: {level: INFO}").key() == "log.level");
}

TEST_CASE("history values are checked") {
  const Config config = load_string(
      "history: {store: memory, path: /var/lib/chatd/chat.db, max_events: 500, max_age: 2h,"
      " durability: sync, flush_interval: 10ms}\nroutes: {presence: /who, history: /log}");
  CHECK(config.history.store == History::Store::memory);
  CHECK(config.history.path == "/var/lib/chatd/chat.db");
  CHECK(config.history.max_events == 500);
  CHECK(config.history.max_age == std::chrono::hours(2));
  CHECK(config.history.durability == History::Durability::sync);
  CHECK(config.history.flush_interval == 10ms);
  CHECK(config.routes.presence == "/who");
  CHECK(config.routes.history == "/log");

  CHECK(std::string(error_of("history:\n  store: postgres\n").what()) ==
        "test.yaml:2:10: history.store: expected sqlite or memory, got 'postgres'");
  CHECK(std::string(error_of("history:\n  durability: always\n").what()) ==
        "test.yaml:2:15: history.durability: expected batch or sync, got 'always'");
  CHECK(error_of("history: {max_events: 0}").key() == "history.max_events");
  CHECK(error_of("history: {max_age: 0s}").key() == "history.max_age");
  CHECK(error_of("history: {flush_interval: 11s}").key() == "history.flush_interval");
  CHECK(error_of("history: {path: ''}").key() == "history.path");
  CHECK(error_of("history: {wal: true}").key() == "history.wal");
  CHECK(std::string(error_of("routes:\n  history: /healthz\n").what()) ==
        "test.yaml:2:12: routes.history: '/healthz' is already the path of routes.health; every route needs "
        "its "
        "own path");
}

TEST_CASE("relative history.path is resolved against base_dir") {
  CHECK(load_string("", "x", "/etc/chatd").history.path == "/etc/chatd/chat.db");
  CHECK(load_string("history: {path: /srv/chat.db}", "x", "/etc/chatd").history.path == "/srv/chat.db");
}

TEST_CASE("a long bad value is shortened in the message") {
  const std::string message = message_of("log: {level: " + std::string(100, 'x') + "}");
  CHECK(message.find("got '" + std::string(60, 'x') + "...'") != std::string::npos);
  CHECK(message.find(std::string(61, 'x')) == std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------
// Files and static.root

TEST_CASE("relative static.root is resolved against base_dir") {
  CHECK(load_string("", "x", "/etc/chatd").static_files.root == "/etc/chatd/static");
  CHECK(load_string("static: {root: www/public}", "x", "/etc/chatd").static_files.root ==
        "/etc/chatd/www/public");
  CHECK(load_string("static: {root: /srv/www}", "x", "/etc/chatd").static_files.root == "/srv/www");
  CHECK(load_string("static: {root: www}", "x", ".").static_files.root == "www");
  CHECK(load_string("static: {root: www}", "x", "").static_files.root == "www");
  CHECK(load_string("static: {root: ../www}", "x", "conf").static_files.root == "conf/../www");
}

TEST_CASE("load_file reads the file and resolves static.root against its folder") {
  TempDir dir;
  dir.make_folder("public");
  const std::string path = dir.write("chat.yaml", "listen:\n  port: 9001\nstatic:\n  root: public\n");
  const Config config = load_file(path);
  CHECK(config.listen.port == 9001);
  CHECK(config.static_files.root == dir.path() + "/public");
}

TEST_CASE("load_file reports errors with the file's path") {
  TempDir dir;
  const std::string path = dir.write("bad.yaml", "log:\n  level: chatty\n");
  try {
    load_file(path);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    CHECK(error.file() == path);
    CHECK(std::string(error.what()) ==
          path + ":2:10: log.level: expected one of debug, info, warn, error, got 'chatty'");
  }
}

TEST_CASE("an empty file is a valid config") {
  TempDir dir;
  dir.make_folder("static");
  Config config = load_file(dir.write("empty.yaml", ""));
  CHECK(config.static_files.root == dir.path() + "/static");
  config.static_files.root = "static";
  check_defaults(config);
}

TEST_CASE("static.root must be a folder when the file is loaded; \"\" serves no files") {
  TempDir dir;
  const std::string path = dir.write("chat.yaml", "log: {level: info}\nstatic:\n  root: www\n");
  CHECK(message_of_file(path) == path + ":3:9: static.root: 'www': no folder " + dir.path() +
                                     "/www; create it, or write static.root: \"\" to serve no files");
  dir.write("www", "a file, not a folder");
  CHECK(message_of_file(path) == path + ":3:9: static.root: 'www': " + dir.path() + "/www is not a folder");
  std::filesystem::remove(dir.path() + "/www");
  dir.make_folder("www");
  CHECK(load_file(path).static_files.root == dir.path() + "/www");

  // Left at its default, the error says so and has no position.
  const std::string defaults = dir.write("defaults.yaml", "");
  CHECK(message_of_file(defaults) == defaults + ": static.root: 'static' (the default): no folder " +
                                         dir.path() +
                                         "/static; create it, or write static.root: \"\" to "
                                         "serve no files");
  // "" is not resolved against the config's folder, which would serve the config itself.
  CHECK(load_file(dir.write("none.yaml", "static: {root: \"\"}\n")).static_files.root.empty());
}

TEST_CASE("with history.store sqlite, history.path must be a file chatd can make or open") {
  TempDir dir;
  dir.make_folder("static");
  const std::string path = dir.write("chat.yaml", "history:\n  path: data/chat.db\n");
  CHECK(message_of_file(path) == path + ":2:9: history.path: 'data/chat.db': the folder " + dir.path() +
                                     "/data does not exist (chatd does not create folders)");
  // store: memory never opens it.
  CHECK(load_file(dir.write("memory.yaml", "history:\n  path: data/chat.db\n  store: memory\n"))
            .history.store == History::Store::memory);

  dir.make_folder("data");
  CHECK(load_file(path).history.path == dir.path() + "/data/chat.db");  // missing: made at start-up
  dir.write("data/chat.db", "");
  CHECK(load_file(path).history.path == dir.path() + "/data/chat.db");  // there: opened

  std::filesystem::remove(dir.path() + "/data/chat.db");
  dir.make_folder("data/chat.db");
  CHECK(message_of_file(path) ==
        path + ":2:9: history.path: 'data/chat.db': " + dir.path() + "/data/chat.db is not a regular file");

  // Left at its default, chat.db beside the config.
  const std::string defaults = dir.write("defaults.yaml", "");
  CHECK(load_file(defaults).history.path == dir.path() + "/chat.db");
  if (::geteuid() == 0) {
    MESSAGE("running as root, which may write anywhere; the permission checks are skipped");
    return;
  }
  std::filesystem::permissions(dir.path() + "/data",
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  CHECK(message_of_file(dir.write("ro.yaml", "history: {path: data/x.db}\n"))
            .find("cannot write in the folder " + dir.path() + "/data (Permission denied)") !=
        std::string::npos);
  std::filesystem::permissions(dir.path() + "/data", std::filesystem::perms::owner_all);
}

TEST_CASE("a device, a FIFO or a folder is not a regular file, and is refused without reading it") {
  TempDir dir;
  const std::string fifo = dir.path() + "/fifo.yaml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const std::string& path : {std::string("/dev/zero"), fifo, dir.path()}) {
    CAPTURE(path);
    CHECK(error_within(5s, [&path] { load_file(path); }) == path + ": not a regular file");
  }
}

TEST_CASE("a file that does not exist cannot be read") {
  TempDir dir;
  const std::string path = dir.path() + "/missing.yaml";
  try {
    load_file(path);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    CHECK(std::string(error.what()) == path + ": cannot read config file: No such file or directory");
    CHECK(error.file() == path);
    CHECK(error.key().empty());
    CHECK(error.line() == 0);
    CHECK(error.column() == 0);
  }
}

TEST_CASE("a file without permission cannot be read") {
  TempDir dir;
  const std::string path = dir.write("secret.yaml", "log: {level: info}\n");
  std::filesystem::permissions(path, std::filesystem::perms::none);
  if (::geteuid() == 0) {
    MESSAGE("running as root, which may read any file; skipped");
    return;
  }
  CHECK_THROWS_WITH_AS(load_file(path), (path + ": cannot read config file: Permission denied").c_str(),
                       ConfigError);
}

TEST_CASE("the hostile-input bounds: each key read, each out-of-range value refused at its value") {
  const Config config = load_string(R"yaml(rooms: {idle_timeout: 90s, create_rate: 0.5, create_burst: 3}
subscriber: {queue_bytes: 256KiB}
limits: {max_queued_bytes: 64MiB, max_connections: 500, max_connections_per_ip: 20, header_timeout: 2s,
         body_timeout: 250ms, handshake_rate: 5, handshake_burst: 10}
)yaml");
  CHECK(config.rooms.idle_timeout == 90s);
  CHECK(config.rooms.create_rate == 0.5);
  CHECK(config.rooms.create_burst == 3.0);
  CHECK(config.subscriber.queue_bytes == 256 * 1024);
  CHECK(config.limits.max_queued_bytes == 64 * 1024 * 1024);
  CHECK(config.limits.max_connections == 500);
  CHECK(config.limits.max_connections_per_ip == 20);
  CHECK(config.limits.header_timeout == 2s);
  CHECK(config.limits.body_timeout == 250ms);
  CHECK(config.limits.handshake_rate == 5.0);
  CHECK(config.limits.handshake_burst == 10.0);

  CHECK(std::string(error_of("rooms: {create_rate: 0}").what()) ==
        "test.yaml:1:22: rooms.create_rate: expected a number of rooms per second > 0, such as 20 or 0.5, "
        "got '0'");
  CHECK(std::string(error_of("limits: {handshake_burst: 0.5}").what()) ==
        "test.yaml:1:27: limits.handshake_burst: expected a number of upgrades >= 1, got '0.5'");
  CHECK(std::string(error_of("limits: {max_connections: 0}").what()).find("limits.max_connections") !=
        std::string::npos);
  CHECK(std::string(error_of("limits: {max_queued_bytes: 1KiB}").what()).find("at least 1MiB") !=
        std::string::npos);
  CHECK(std::string(error_of("subscriber: {queue_bytes: 1000}").what()).find("1KiB to 1GiB") !=
        std::string::npos);
}

TEST_CASE("server.trusted_proxies: addresses and networks of either family, and what is refused") {
  const auto proxies =
      load_string("server: { trusted_proxies: [127.0.0.1, 10.0.0.0/8, \"::1\", \"fd00::/8\"] }")
          .server.trusted_proxies;
  REQUIRE(proxies.size() == 4);
  CHECK(proxies[0].prefix_bits == 128);  // one IPv4 address: all 32 of its bits, after the 96 of ::ffff:
  CHECK(proxies[1].prefix_bits == 104);
  CHECK(proxies[1].text == "10.0.0.0/8");
  CHECK(proxies[3].prefix_bits == 8);
  CHECK(load_string("").server.trusted_proxies.empty());
  const auto error = [](const std::string& yaml) {
    try {
      load_string(yaml, "test.yaml");
    } catch (const ConfigError& refused) {
      return std::string(refused.what());
    }
    return std::string("loaded");
  };
  const std::string expected = "expected an IP address or a network such as 10.0.0.0/8 or fd00::/8, got ";
  CHECK(error("server: { trusted_proxies: [proxy.internal] }") ==
        "test.yaml:1:29: server.trusted_proxies: " + expected +
            "'proxy.internal' ('proxy.internal' is not an IP address (hostnames are not resolved))");
  CHECK(error("server: { trusted_proxies: [10.0.0.0/33] }") ==
        "test.yaml:1:29: server.trusted_proxies: " + expected +
            "'10.0.0.0/33' (the prefix length must be a whole number from 0 to 32)");
  CHECK(error("server: { trusted_proxies: [127.0.0.1, 10.1.2.3/8] }") ==
        "test.yaml:1:40: server.trusted_proxies: " + expected +
            "'10.1.2.3/8' (host bits are set after the /8 prefix)");
  CHECK(error("server: { trusted_proxies: 127.0.0.1 }").find("server.trusted_proxies: expected a list") !=
        std::string::npos);
}
