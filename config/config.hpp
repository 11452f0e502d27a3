// Typed configuration of chatd. Every field has the default documented in docs/config.md and chat.yaml.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace chatd::config {

using Duration = std::chrono::milliseconds;

enum class LogLevel { debug, info, warn, error };

struct Listen {
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 literal; hostnames are not resolved
  std::uint16_t port = 8080;          // 0 = any free port (the chosen one is logged)
};

// An address or a network (CIDR), as 16 bytes: an IPv4 one as its v4-mapped IPv6 form (::ffff:a.b.c.d), with
// its prefix length counted in those 128 bits, so one comparison serves both families.
struct Network {
  std::array<std::uint8_t, 16> address{};
  unsigned prefix_bits = 128;
  std::string text;  // as written, for messages
  bool contains(const std::array<std::uint8_t, 16>& other) const;
};

struct Server {
  unsigned threads = 0;  // 0 = one per core
  // Reverse proxies whose forwarded_header names the client (docs/deploy.md). From any other peer it is
  // ignored.
  std::vector<Network> trusted_proxies;
  // The one header the proxies write. Only that one is read: a proxy passes the other through as the client
  // sent it (Caddy 2.6 replaces X-Forwarded-For but forwards a client's Forwarded untouched), so believing
  // both would let a client name itself.
  enum class ForwardedHeader { x_forwarded_for, forwarded };
  ForwardedHeader forwarded_header = ForwardedHeader::x_forwarded_for;
};

// The default of each path is written here; the key each is read from is in route_keys below.
struct Routes {
  std::string subscribe = "/subscribe";
  std::string events = "/events";  // Server-Sent Events: a room as text/event-stream
  std::string publish = "/publish";
  std::string health = "/healthz";
  std::string presence = "/presence";
  std::string history = "/history";
  std::string login = "/login";    // auth.mode password: a token for a name and password
  std::string logout = "/logout";  // ends the session a token names
  std::string static_files = "/";  // URL prefix the static root is served under
};

// One row per route: the key under `routes:` in chat.yaml, the member holding its path, and whether the
// path is a prefix (matched after every exact path) rather than an exact path. The config loader reads
// exactly these keys, in this order (its messages list them so), and server/http/routes.hpp binds each
// key to its handler. A new route is one member above, one row here and one row there.
struct RouteKey {
  std::string_view key;
  std::string Routes::*path;
  bool prefix = false;
};
inline constexpr RouteKey route_keys[] = {
    {"subscribe", &Routes::subscribe},        // WebSocket upgrade
    {"events", &Routes::events},              // Server-Sent Events
    {"publish", &Routes::publish},            // a message from an HTTP client
    {"health", &Routes::health},              // workers and rooms running
    {"presence", &Routes::presence},          // who is in a room
    {"history", &Routes::history},            // a page of a room's events
    {"login", &Routes::login},                // a session token (auth.mode password), who you are
    {"logout", &Routes::logout},              // ends a session
    {"static", &Routes::static_files, true},  // files under static.root
};

struct Rooms {
  std::string default_room = "general";
  bool dynamic = true;
  std::size_t max = 10000;                       // live rooms at once, counting names
  std::vector<std::string> names = {"general"};  // rooms that always exist
  // A dynamic room with no subscribers and no request for this long is reclaimed: rooms.max bounds the rooms
  // in use, not every name ever asked for. Its events stay in the store; its epoch keeps recovery exact.
  Duration idle_timeout = std::chrono::minutes(5);
  double create_rate = 20;    // new rooms per second per remote address (a token bucket)
  double create_burst = 200;  // bucket size: rooms one address may create at once
};

struct Subscriber {
  // A subscriber is closed as too slow (1008) when what it has not yet taken off the wire would pass either
  // bound, or when one write makes no progress for write_timeout. Bytes decide; the count only guards
  // against the per-frame overhead of a flood of tiny messages, so a burst is not mistaken for a slow client.
  std::size_t queue = 4096;               // messages queued or being written, per subscriber
  std::size_t queue_bytes = 1024 * 1024;  // bytes queued or being written, per subscriber (a replay counts)
  Duration write_timeout = std::chrono::seconds(5);
  Duration ping_interval = std::chrono::seconds(30);
  std::vector<std::string> allowed_origins;  // empty = any Origin
};

struct Publish {
  double rate = 10;  // tokens per second
  double burst = 8;  // bucket size
};

struct Limits {
  std::size_t max_message_size = 64 * 1024;
  std::size_t max_header_size = 8 * 1024;
  // All subscribers' queues together; past it the largest queues are closed first (1008).
  std::size_t max_queued_bytes = 512 * 1024 * 1024;
  std::size_t max_connections = 20000;                 // open client connections, every route and transport
  std::size_t max_connections_per_ip = 0;              // per remote address; 0 = no per-address bound
  Duration header_timeout = std::chrono::seconds(10);  // a whole request head, from its first byte: 408
  Duration body_timeout = std::chrono::seconds(30);    // a whole request body, after its head: 408
  double handshake_rate = 100;    // WebSocket upgrades per second per remote address (a token bucket)
  double handshake_burst = 1000;  // bucket size: upgrades one address may make at once
};

struct Static {
  // Resolved against the config file's folder when relative; "" = serve no static files.
  std::string root = "static";
};

struct History {
  enum class Store { sqlite, memory };
  enum class Durability { batch, sync };
  Store store = Store::sqlite;
  std::string path = "chat.db";    // resolved against the config file's folder when relative
  std::size_t max_events = 10000;  // per room
  Duration max_age = std::chrono::hours(24 * 30);
  Durability durability = Durability::batch;
  Duration flush_interval = std::chrono::milliseconds(50);  // batch: the longest an event waits for disk
};

struct Log {
  LogLevel level = LogLevel::info;
};

// Where a value was written in the config, for the checks only the server can make after loading (a hash or
// a PEM key that libcrypto must parse): ConfigError(file, key, line, column, problem) still points at it.
struct Written {
  std::string file;
  std::string key;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
};

// A secret read from a `*_file` key: the file's bytes, read at load_file time (never written in the YAML).
struct SecretFile {
  std::string path;      // resolved against the config file's folder; "" = not configured
  std::string contents;  // without one trailing newline ("\n" or "\r\n"), as `echo` and editors leave one
  Written written;
};

struct ApiKey {
  std::string name;                               // for logs, and the publisher's name when none is given
  std::string sha256;                             // 64 lowercase hex digits: the SHA-256 of the key
  std::optional<std::vector<std::string>> rooms;  // nullopt = every room; an entry ending in '*' is a prefix
  Written written;
};

struct Jwt {
  SecretFile secret;      // auth.jwt.secret_file: HS256, at least 32 bytes
  SecretFile public_key;  // auth.jwt.public_key_file: PEM; an RSA key gives RS256, a P-256 key ES256
  std::string issuer;     // "" = iss is not checked
  std::string audience;   // "" = aud is not checked
  Duration leeway = std::chrono::seconds(30);  // clock skew allowed on exp, nbf and iat
};

struct UserPassword {
  std::string name;
  std::string hash;  // from chatd --hash-password
  Written written;
};

struct Auth {
  enum class Mode { open, password, jwt };
  // The word chat.yaml writes for `mode`: "open", "password" or "jwt".
  static constexpr std::string_view mode_name(Mode mode) {
    return mode == Mode::password ? "password" : mode == Mode::jwt ? "jwt" : "open";
  }
  Mode mode = Mode::open;
  std::string password_hash;  // the shared server password, for any name not in users; "" = none
  Written password_hash_written;
  std::vector<UserPassword> users;  // names only their owner may take
  Duration token_ttl = std::chrono::hours(24);
  bool cookie_secure = false;  // the session cookie gets Secure (set it behind TLS)
  double login_rate = 0.1;     // failed logins refilled per second per remote address (a token bucket)
  double login_burst = 10;     // failed logins one address may make before 429
  std::vector<ApiKey> api_keys;
  Jwt jwt;
};

// Several nodes as one service (docs/cluster.md). engine none: one process, history in history.store.
struct Cluster {
  enum class Engine { none, redis };
  struct Redis {
    std::string host = "127.0.0.1";  // cluster.redis.address: HOST:PORT (an IP literal or a host name)
    std::uint16_t port = 6379;
    SecretFile password;           // cluster.redis.password_file: AUTH; "" = none
    std::string prefix = "chatd";  // every key and channel starts with PREFIX: ([A-Za-z0-9_.-], 1-32)
  };
  Engine engine = Engine::none;
  Redis redis;
  Duration node_ttl = std::chrono::seconds(15);         // a node silent this long is dead: its users leave
  Duration unavailable_wait = std::chrono::seconds(1);  // a publish waits this long for Redis, then 503/1013
  Written engine_written;
};

// The admin listener (docs/api.md, admin): GET /metrics and /readyz, apart from the public port so that
// they can stay on loopback or a private network. Not 9090, Prometheus' own port, often on the same host.
struct Admin {
  bool enabled = true;  // admin.listen: "" turns it off
  Listen listen{"127.0.0.1", 9280};
  Written written;  // where admin.listen was written (bind errors point at it)
};

struct Config {
  Listen listen;
  Admin admin;
  Server server;
  Routes routes;
  Rooms rooms;
  Subscriber subscriber;
  Publish publish;
  Limits limits;
  Static static_files;
  History history;
  Log log;
  Auth auth;
  Cluster cluster;
};

// A config that cannot be used. what() is the full message: "FILE:LINE:COLUMN: KEY: problem".
// line and column are 1-based; 0 when unknown (e.g. the file cannot be read).
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, std::string key, int line, int column, const std::string& problem);
  const std::string& file() const { return file_; }
  const std::string& key() const { return key_; }
  int line() const { return line_; }
  int column() const { return column_; }

 private:
  std::string file_, key_;
  int line_, column_;
};

// Room names: 1 to 64 characters from [A-Za-z0-9._-].
bool is_valid_room_name(std::string_view name);

// The largest config chatd reads: a config is a few KiB, and yaml-cpp holds a whole file in memory.
inline constexpr std::size_t max_config_size = 1024 * 1024;

// Loads and validates. Relative static.root and history.path are resolved against the folder of `path`.
// Also checks, without changing anything, what the server would find on the file system at start-up:
// static.root is a readable folder, and with history.store sqlite, history.path can be opened for writing.
Config load_file(const std::string& path);
// `file_name` is used in error messages; relative static.root and history.path are resolved against
// `base_dir`. Checks the text only: nothing on the file system (that is load_file's part).
Config load_string(std::string_view yaml, const std::string& file_name = "<config>",
                   const std::string& base_dir = ".");

// "5s", "250ms", "2m", "1h", "30d"; a bare number is seconds. nullopt-like: throws std::invalid_argument.
Duration parse_duration(std::string_view text);
// "65536", "64KiB", "1MiB", "1GiB" (also KB/MB = 1000-based). Throws std::invalid_argument.
std::size_t parse_size(std::string_view text);

}  // namespace chatd::config
