// Reads chat.yaml into a Config. Every value is checked here, so that the server can trust its Config, and
// every mistake is reported as "FILE:LINE:COLUMN: KEY: problem" pointing at the offending text.
#include "config/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace chatd::config {

namespace {

// Control characters of the user's text (a key or value holding a NUL byte, an escape sequence) written as
// \xNN: what() is a C string, so a NUL would cut the message short (found by test/fuzz/config: a key
// starting with NUL left "FILE:2:1: " and nothing else), and others would reach the terminal raw.
std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out.push_back(c);
      continue;
    }
    constexpr char hex[] = "0123456789abcdef";
    out += "\\x";
    out.push_back(hex[byte >> 4]);
    out.push_back(hex[byte & 0xf]);
  }
  return out;
}

std::string format_error(const std::string& file, const std::string& key, int line, int column,
                         const std::string& problem) {
  std::string message = file;
  if (line > 0) message += ":" + std::to_string(line) + ":" + std::to_string(column);
  message += ": ";
  if (!key.empty()) message += printable(key) + ": ";
  return message + printable(problem);
}

}  // namespace

ConfigError::ConfigError(std::string file, std::string key, int line, int column, const std::string& problem)
    : std::runtime_error(format_error(file, key, line, column, problem)),
      file_(std::move(file)),
      key_(std::move(key)),
      line_(line),
      column_(column) {}

bool Network::contains(const std::array<std::uint8_t, 16>& other) const {
  const unsigned whole = prefix_bits / 8;
  if (std::memcmp(address.data(), other.data(), whole) != 0) return false;
  const unsigned rest = prefix_bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (address[whole] & mask) == (other[whole] & mask);
}

bool is_valid_room_name(std::string_view name) {
  constexpr std::size_t max_room_name_length = 64;
  if (name.empty() || name.size() > max_room_name_length) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

namespace {

// websocketpp's parser stops at 16000 bytes and counts one byte more per line than the request has:
// 12 KiB keeps even a head of very short lines inside it.
constexpr std::size_t max_http_header_size = 12 * 1024;
constexpr std::size_t one_gib = std::size_t{1} << 30;
constexpr const char* room_name_rule = "1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'";

using Keys = std::vector<std::string_view>;

// One "key: value" entry of the file, remembered with where it was written.
struct Field {
  std::string key;  // dotted path, e.g. "subscriber.queue"
  YAML::Node value;
  YAML::Mark key_mark;
};

// The checked entries of one map: only known keys, each at most once.
class Section {
 public:
  void add(std::string name, Field field) { entries_.push_back({std::move(name), std::move(field)}); }

  const Field* find(std::string_view name) const {
    for (const Entry& entry : entries_) {
      if (entry.name == name) return &entry.field;
    }
    return nullptr;
  }

  template <typename Visit>
  void for_each(Visit visit) const {
    for (const Entry& entry : entries_) visit(entry.name, entry.field);
  }

 private:
  struct Entry {
    std::string name;  // the key as written, e.g. "queue"
    Field field;
  };
  std::vector<Entry> entries_;
};

std::string join(const Keys& keys) {
  std::string joined;
  for (std::string_view key : keys) {
    if (!joined.empty()) joined += ", ";
    joined += key;
  }
  return joined;
}

std::string child_key(const std::string& parent, std::string_view name) {
  return parent.empty() ? std::string(name) : parent + "." + std::string(name);
}

// How a value looks in an error message: "'abc'", "a map", "a list" or "nothing".
std::string describe(const YAML::Node& value) {
  constexpr std::size_t max_shown = 60;
  switch (value.Type()) {
    case YAML::NodeType::Scalar: {
      const std::string& text = value.Scalar();
      if (text.size() <= max_shown) return "'" + text + "'";
      return "'" + text.substr(0, max_shown) + "...'";
    }
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

// Where to point for a problem with a field's value. An empty value ("port:") has no text of its own and
// yaml-cpp marks it at the next token, which may be lines further down, so point at its key instead.
YAML::Mark value_mark(const Field& field) {
  if (field.value.IsNull() || field.value.Mark().is_null()) return field.key_mark;
  return field.value.Mark();
}

bool is_later_in_file(const YAML::Mark& a, const YAML::Mark& b) {
  return a.pos > b.pos;
}

// yaml-cpp 0.7 bug: YAML::LoadAll never returns on a ',' outside any [ ] or { } at the level of a document
// (",", " ,]", " &x,x]", "[a],", "\"a\" ,"), and allocates memory until the process is killed. Found with
// gdb on a test program: every backtrace is LoadAll -> Parser::HandleNextDocument -> (node builder) ->
// detail::memory::create_node, so it is LoadAll's loop over documents that never ends, not one document.
// Tracing Parser::HandleNextDocument with an event handler shows why: each call reports one more empty
// document starting at the same mark, the ',' (a flow-entry token), which the parser neither accepts nor
// consumes. A document that consumed nothing leaves the parser as it found it, so the next one is the same
// again, forever. Conversely, when every document starts further on than the one before, there are at most
// as many documents as tokens and LoadAll ends. So this handler, run over the same text first, is an exact
// test of the bug, with no time or memory bound to guess (yaml-cpp 0.8 is not in Debian 12).
class DocumentStartWatch : public YAML::EventHandler {
 public:
  const YAML::Mark& start() const { return start_; }

  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnMapEnd() override {}

 private:
  YAML::Mark start_ = YAML::Mark::null_mark();
};

// Where yaml-cpp 0.7 would start the same document forever (see DocumentStartWatch), if it would.
// Throws YAML::Exception for a syntax error, as YAML::LoadAll does.
std::optional<YAML::Mark> endless_document_start(std::string_view yaml) {
  std::istringstream input{std::string(yaml)};
  YAML::Parser parser(input);
  DocumentStartWatch watch;
  std::optional<YAML::Mark> previous_start;
  while (parser.HandleNextDocument(watch)) {
    if (previous_start && previous_start->pos == watch.start().pos) return watch.start();
    previous_start = watch.start();
  }
  return std::nullopt;
}

// A path setting as the file-system checks see it: the value as written, as resolved against the config
// file's folder, and where it was written (nullopt when it was left at its default).
struct PathSetting {
  std::string key;
  std::string written;
  std::string resolved;
  std::optional<YAML::Mark> mark;
};

// Reads a secret or key file of at most 64 KiB into `out`; false with `error` set when it cannot.
bool read_small_file(const std::string& path, std::string& out, std::string& error) {
  constexpr std::size_t max_secret_file = 64 * 1024;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  struct stat info {};
  bool ok = ::fstat(fd, &info) == 0;
  if (!ok) error = std::strerror(errno);
  if (ok && !S_ISREG(info.st_mode)) {
    ok = false;
    error = "not a regular file";
  }
  char buffer[4096];
  while (ok) {
    const ssize_t count = ::read(fd, buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) {
      ok = false;
      error = std::strerror(errno);
    } else if (count == 0) {
      break;
    } else {
      out.append(buffer, static_cast<std::size_t>(count));
      if (out.size() > max_secret_file) {
        ok = false;
        error = "larger than 64 KiB, more than any key or secret";
      }
    }
  }
  ::close(fd);
  return ok;
}

// What is wrong with `host` as a host name, or "" when nothing is. RFC 1123 2.1: dot-separated labels of 1 to
// 63 letters, digits and '-', not starting or ending with '-', at most 253 characters in all; one trailing
// dot (a fully qualified name) is allowed. '_' is allowed too: container runtimes name services with it
// (Docker Compose's my_redis) and getaddrinfo resolves them. A name whose last label is all digits is an
// IPv4 address, never a name (RFC 1123 2.1: top-level names are alphabetic), so it must be one inet_pton
// reads: getaddrinfo would take "127.1" or "10.0.0.010" for some other address than the user meant.
std::string host_name_problem(std::string_view host) {
  constexpr std::size_t max_name = 253;
  constexpr std::size_t max_label = 63;
  if (host.empty()) return "no host before the ':'";
  const std::string shown = "'" + std::string(host) + "'";
  if (host.ends_with('.')) host.remove_suffix(1);
  if (host.size() > max_name) return shown + " is longer than 253 characters, the most a host name has";
  std::string_view rest = host;
  std::string_view label;
  while (true) {
    const std::size_t dot = rest.find('.');
    label = rest.substr(0, dot);
    const bool allowed = std::all_of(label.begin(), label.end(), [](unsigned char c) {
      return std::isalnum(c) != 0 || c == '-' || c == '_';
    });
    if (label.empty() || label.size() > max_label || !allowed || label.front() == '-' ||
        label.back() == '-') {
      return shown +
             " is not a host name: each part between dots is 1 to 63 letters, digits, '-' or '_', "
             "and neither starts nor ends with '-'";
    }
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  const bool numeric =
      std::all_of(label.begin(), label.end(), [](unsigned char c) { return std::isdigit(c); });
  in_addr ipv4{};
  if (numeric && inet_pton(AF_INET, std::string(host).c_str(), &ipv4) != 1)
    return shown + " is not an IPv4 address (four numbers from 0 to 255, no leading zeros)";
  return "";
}

// What the config names on the file system, for the checks load_file makes and load_string does not.
enum class FileSystemChecks { none, at_start_up };

class Loader {
 public:
  Loader(std::string file, std::string base_dir, FileSystemChecks checks)
      : file_(std::move(file)), base_dir_(std::move(base_dir)), checks_(checks) {}

  Config load(std::string_view yaml) const {
    if (yaml.size() > max_config_size) {
      throw ConfigError(file_, "", 0, 0,
                        "larger than " + std::to_string(max_config_size) + " bytes (" +
                            std::to_string(max_config_size >> 20) +
                            " MiB), the most chatd reads as a config");
    }
    Config config;
    WrittenAt written;
    const YAML::Node root = parse_single_document(yaml);
    if (root.IsDefined() && !root.IsNull()) read_sections(root, config, written);
    const PathSetting static_root =
        path_setting("static.root", config.static_files.root, written.static_root);
    const PathSetting history_path = path_setting("history.path", config.history.path, written.history_path);
    if (checks_ == FileSystemChecks::at_start_up) {
      if (!static_root.written.empty()) check_static_root(static_root);
      if (config.history.store == History::Store::sqlite) check_history_path(history_path);
    }
    config.static_files.root = static_root.resolved;
    config.history.path = history_path.resolved;
    return config;
  }

 private:
  // ---- Errors ----

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& key, const std::string& problem) const {
    throw ConfigError(file_, key, mark.line + 1, mark.column + 1, problem);
  }
  [[noreturn]] void fail(const Field& field, const std::string& problem) const {
    fail(value_mark(field), field.key, problem);
  }
  // "expected WHAT, got VALUE", with the reason the value was rejected after it when there is one.
  [[noreturn]] void fail_expected(const Field& field, const std::string& expected,
                                  const std::string& reason = "") const {
    std::string problem = "expected " + expected + ", got " + describe(field.value);
    if (!reason.empty()) problem += " (" + reason + ")";
    fail(field, problem);
  }
  // "'VALUE': problem" at the value, or "'VALUE' (the default): problem" with no position.
  [[noreturn]] void fail_path(const PathSetting& setting, const std::string& problem) const {
    const std::string shown = "'" + setting.written + "'";
    if (setting.mark) fail(*setting.mark, setting.key, shown + ": " + problem);
    throw ConfigError(file_, setting.key, 0, 0, shown + " (the default): " + problem);
  }

  // ---- Document structure ----

  YAML::Node parse_single_document(std::string_view yaml) const {
    std::vector<YAML::Node> documents;
    try {
      if (const std::optional<YAML::Mark> endless = endless_document_start(yaml)) {
        fail(*endless, "",
             "the YAML parser did not finish (yaml-cpp 0.7 bug with a ',' outside [ ] and { }: it reads "
             "an empty document here again and again); remove the ','");
      }
      documents = YAML::LoadAll(std::string(yaml));
    } catch (const YAML::Exception& error) {
      fail(error.mark, "", error.msg);
    }
    if (documents.empty()) return YAML::Node();  // empty file or only comments: all defaults
    if (documents.size() > 1) {
      fail(documents[1].Mark(), "",
           "expected a single YAML document, found " + std::to_string(documents.size()) +
               " (check the indentation of the top-level keys and remove any '---')");
    }
    return documents.front();
  }

  // Checks that `field` is a map of known keys. An empty section ("log:") is accepted and changes nothing,
  // just like an empty file.
  Section read_map(const Field& field, const Keys& known) const {
    Section section;
    if (field.value.IsNull()) return section;
    if (!field.value.IsMap()) fail_expected(field, "a map with keys " + join(known));

    // Range-for keeps each entry alive; `iterator->first` would refer into a temporary.
    for (const auto& entry : field.value) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar()) fail(key.Mark(), field.key, "expected a plain name as key, got " + describe(key));
      const std::string& name = key.Scalar();
      const std::string path = child_key(field.key, name);
      if (std::find(known.begin(), known.end(), name) == known.end())
        fail(key.Mark(), path, "unknown key '" + name + "' (known: " + join(known) + ")");
      if (const Field* earlier = section.find(name)) {
        fail(key.Mark(), path,
             "key '" + name + "' is given twice (first on line " +
                 std::to_string(earlier->key_mark.line + 1) + ")");
      }
      section.add(name, Field{path, entry.second, key.Mark()});
    }
    return section;
  }

  // Where the values checked once every section is read were written: the paths checked against the file
  // system, and history.durability, which cluster.engine may rule out. nullopt for a default.
  struct WrittenAt {
    std::optional<YAML::Mark> static_root, history_path, history_durability, admin_listen;
  };

  void read_sections(const YAML::Node& root, Config& config, WrittenAt& written) const {
    const Field top{"", root, root.Mark()};
    if (!root.IsMap()) fail_expected(top, "a map of sections (listen, server, routes, ...)");

    const Section sections =
        read_map(top, {"listen", "server", "routes", "rooms", "subscriber", "publish", "limits", "static",
                       "history", "log", "auth", "cluster", "admin"});
    sections.for_each([&](const std::string& name, const Field& section) {
      if (name == "listen") read_listen(section, config.listen);
      if (name == "server") read_server(section, config.server);
      if (name == "routes") read_routes(section, config.routes);
      if (name == "rooms") read_rooms(section, config.rooms);
      if (name == "subscriber") read_subscriber(section, config.subscriber);
      if (name == "publish") read_publish(section, config.publish);
      if (name == "limits") read_limits(section, config.limits);
      if (name == "static") read_static(section, config.static_files, written.static_root);
      if (name == "history") read_history(section, config.history, written);
      if (name == "log") read_log(section, config.log);
      if (name == "auth") read_auth(section, config.auth);
      if (name == "cluster") read_cluster(section, config.cluster);
      if (name == "admin") read_admin(section, config.admin, written.admin_listen);
    });
    // Both listeners known now, whichever the file wrote first.
    const auto& admin = config.admin.listen;
    const auto& public_listen = config.listen;
    const auto wildcard = [](const std::string& address) { return address == "0.0.0.0" || address == "::"; };
    if (config.admin.enabled && admin.port != 0 && admin.port == public_listen.port &&
        (admin.address == public_listen.address || wildcard(admin.address) ||
         wildcard(public_listen.address))) {
      const std::string problem = "the admin listener needs a port of its own: " + admin.address + ":" +
                                  std::to_string(admin.port) + " is listen's (" + public_listen.address +
                                  ":" + std::to_string(public_listen.port) + ")";
      if (written.admin_listen) fail(*written.admin_listen, "admin.listen", problem);
      fail(YAML::Mark::null_mark(), "admin.listen", problem + "; set admin.listen, or \"\" for none");
    }
    // Only now are both sections known, whichever the file wrote first.
    if (config.cluster.engine == Cluster::Engine::redis &&
        config.history.durability == History::Durability::sync && written.history_durability) {
      fail(*written.history_durability, "history.durability",
           "sync durability is SQLite's; with cluster.engine redis every event is in Redis before it is "
           "delivered");
    }
  }

  // ---- Sections ----

  void read_listen(const Field& field, Listen& listen) const {
    const Section section = read_map(field, {"address", "port"});
    if (const Field* address = section.find("address")) listen.address = ip_address(*address);
    if (const Field* port = section.find("port"))
      listen.port = static_cast<std::uint16_t>(whole_number(*port, 0, 65535));
  }

  void read_server(const Field& field, Server& server) const {
    const Section section = read_map(field, {"threads", "trusted_proxies", "forwarded_header"});
    if (const Field* threads = section.find("threads"))
      server.threads = static_cast<unsigned>(whole_number(*threads, 0, 1024));
    if (const Field* proxies = section.find("trusted_proxies")) {
      for (const Field& item :
           list_items(*proxies, "a list of addresses or networks such as [127.0.0.1, 10.0.0.0/8]"))
        server.trusted_proxies.push_back(network(item));
    }
    if (const Field* header = section.find("forwarded_header")) {
      one_of(*header, server.forwarded_header,
             {{"x-forwarded-for", Server::ForwardedHeader::x_forwarded_for},
              {"forwarded", Server::ForwardedHeader::forwarded}});
    }
  }

  // "10.0.0.0/8", "fd00::/8", or one address ("127.0.0.1", "::1": the whole prefix). IP literals only, as
  // listen.address: a proxy is trusted by where its packets come from, not by a name.
  Network network(const Field& field) const {
    const std::string expected = "an IP address or a network such as 10.0.0.0/8 or fd00::/8";
    const std::string text = string_value(field, expected);
    const std::size_t slash = text.find('/');
    const std::string address = text.substr(0, slash);
    Network network;
    network.text = text;
    unsigned family_bits = 128;
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, address.c_str(), &v4) == 1) {
      family_bits = 32;
      network.address[10] = network.address[11] = 0xff;  // ::ffff:a.b.c.d
      std::memcpy(network.address.data() + 12, &v4, 4);
    } else if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
      std::memcpy(network.address.data(), &v6, 16);
    } else {
      fail_expected(field, expected, "'" + address + "' is not an IP address (hostnames are not resolved)");
    }
    unsigned bits = family_bits;
    if (slash != std::string::npos) {
      const std::string_view digits = std::string_view(text).substr(slash + 1);
      const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
      if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() ||
          bits > family_bits)
        fail_expected(field, expected,
                      "the prefix length must be a whole number from 0 to " + std::to_string(family_bits));
    }
    network.prefix_bits = bits + (128 - family_bits);
    // Host bits set (10.1.2.3/8) are a typo more often than not: say which network was meant.
    Network masked = network;
    for (unsigned bit = network.prefix_bits; bit < 128; ++bit)
      masked.address[bit / 8] &= ~(0x80 >> (bit % 8));
    if (masked.address != network.address)
      fail_expected(field, expected, "host bits are set after the /" + std::to_string(bits) + " prefix");
    return network;
  }

  void read_routes(const Field& field, Routes& routes) const {
    Keys known;
    for (const RouteKey& route : route_keys) known.push_back(route.key);
    const Section section = read_map(field, known);
    struct Route {
      const Field* field;  // nullptr when the default is kept
      std::string key;
      std::string* path;
    };
    std::vector<Route> all;
    for (const RouteKey& route : route_keys)
      all.push_back({section.find(route.key), child_key("routes", route.key), &(routes.*route.path)});
    for (Route& route : all) {
      if (route.field) *route.path = url_path(*route.field);
    }
    // routes.static is a prefix, so "/" overlaps every other route; that is fine because exact routes win.
    // Two routes with the same path are not: one of them could never be reached.
    for (std::size_t i = 0; i < all.size(); ++i) {
      for (std::size_t j = i + 1; j < all.size(); ++j) {
        if (*all[i].path != *all[j].path) continue;
        // Blame the one written later in the file; a route left at its default cannot be blamed.
        const bool blame_j = all[j].field && (!all[i].field || is_later_in_file(all[j].field->value.Mark(),
                                                                                all[i].field->value.Mark()));
        const Route& blamed = blame_j ? all[j] : all[i];
        const Route& other = blame_j ? all[i] : all[j];
        fail(*blamed.field, "'" + *blamed.path + "' is already the path of " + other.key +
                                "; every route needs its own path");
      }
    }
  }

  void read_rooms(const Field& field, Rooms& rooms) const {
    const Section section = read_map(
        field, {"default", "dynamic", "max", "names", "idle_timeout", "create_rate", "create_burst"});
    if (const Field* idle = section.find("idle_timeout")) rooms.idle_timeout = positive_duration(*idle);
    if (const Field* rate = section.find("create_rate"))
      rooms.create_rate = rate_per_second(*rate, "a number of rooms per second > 0, such as 20 or 0.5");
    if (const Field* burst = section.find("create_burst"))
      rooms.create_burst = bucket_size(*burst, "a number of rooms >= 1");
    const Field* default_room = section.find("default");
    const Field* dynamic = section.find("dynamic");
    const Field* max = section.find("max");
    const Field* names = section.find("names");

    if (default_room) rooms.default_room = room_name(*default_room);
    if (dynamic) rooms.dynamic = boolean(*dynamic);
    if (max) rooms.max = whole_number(*max, 1, std::numeric_limits<std::size_t>::max());
    if (names) rooms.names = room_names(*names);

    if (rooms.names.size() > rooms.max) {
      const std::string listed = std::to_string(rooms.names.size()) + " rooms listed in rooms.names";
      if (max) fail(*max, std::to_string(rooms.max) + " is less than the " + listed + "; raise rooms.max");
      // rooms.max was left at its default, so it must be rooms.names that was given too long.
      fail(names ? *names : field,
           "the " + listed + " are more than rooms.max (" + std::to_string(rooms.max) + ")");
    }
    const bool default_is_listed =
        std::find(rooms.names.begin(), rooms.names.end(), rooms.default_room) != rooms.names.end();
    if (!rooms.dynamic && !default_is_listed) {
      // Point at rooms.default if it was written, else at the "dynamic: false" that makes it unreachable.
      const Field& culprit = default_room ? *default_room : dynamic ? *dynamic : field;
      fail(value_mark(culprit), "rooms.default",
           "'" + rooms.default_room +
               "' is not in rooms.names; with rooms.dynamic false no other room can exist, so add it there");
    }
  }

  void read_subscriber(const Field& field, Subscriber& subscriber) const {
    const Section section =
        read_map(field, {"queue", "queue_bytes", "write_timeout", "ping_interval", "allowed_origins"});
    if (const Field* queue = section.find("queue")) subscriber.queue = whole_number(*queue, 1, 1000000);
    if (const Field* bytes = section.find("queue_bytes")) {
      subscriber.queue_bytes = size_in_range(*bytes, 1024, one_gib, "a size from 1KiB to 1GiB, such as 1MiB");
    }
    if (const Field* timeout = section.find("write_timeout"))
      subscriber.write_timeout = positive_duration(*timeout);
    if (const Field* ping = section.find("ping_interval"))
      subscriber.ping_interval = positive_duration(*ping);
    if (const Field* origins = section.find("allowed_origins"))
      subscriber.allowed_origins =
          string_list(*origins, "a list of origins such as [\"https://example.com\"]");
  }

  void read_publish(const Field& field, Publish& publish) const {
    const Section section = read_map(field, {"rate", "burst"});
    if (const Field* rate = section.find("rate"))
      publish.rate = rate_per_second(*rate, "a number of messages per second > 0, such as 10 or 0.5");
    if (const Field* burst = section.find("burst"))
      publish.burst = bucket_size(*burst, "a number of messages >= 1");
  }

  // A token bucket's refill rate and size.
  double rate_per_second(const Field& field, const std::string& expected) const {
    const double rate = number(field, expected);
    if (rate <= 0) fail_expected(field, expected);
    return rate;
  }
  double bucket_size(const Field& field, const std::string& expected) const {
    const double size = number(field, expected);
    if (size < 1) fail_expected(field, expected);
    return size;
  }

  void read_limits(const Field& field, Limits& limits) const {
    const Section section = read_map(field, {"max_message_size", "max_header_size", "max_queued_bytes",
                                             "max_connections", "max_connections_per_ip", "header_timeout",
                                             "body_timeout", "handshake_rate", "handshake_burst"});
    if (const Field* message = section.find("max_message_size")) {
      limits.max_message_size =
          size_in_range(*message, 1, one_gib, "a size from 1 byte to 1GiB, such as 65536 or 64KiB");
    }
    if (const Field* header = section.find("max_header_size")) {
      limits.max_header_size = size_in_range(*header, 256, max_http_header_size,
                                             "a size from 256 bytes to 12KiB, such as 8192 or 8KiB");
    }
    if (const Field* queued = section.find("max_queued_bytes"))
      limits.max_queued_bytes = size_in_range(*queued, 1024 * 1024, std::numeric_limits<std::size_t>::max(),
                                              "a size of at least 1MiB, such as 512MiB");
    if (const Field* connections = section.find("max_connections"))
      limits.max_connections = whole_number(*connections, 1, 10000000);
    if (const Field* per_ip = section.find("max_connections_per_ip"))
      limits.max_connections_per_ip = whole_number(*per_ip, 0, 10000000);
    if (const Field* header = section.find("header_timeout"))
      limits.header_timeout = positive_duration(*header);
    if (const Field* body = section.find("body_timeout")) limits.body_timeout = positive_duration(*body);
    if (const Field* rate = section.find("handshake_rate"))
      limits.handshake_rate = rate_per_second(*rate, "a number of upgrades per second > 0, such as 100");
    if (const Field* burst = section.find("handshake_burst"))
      limits.handshake_burst = bucket_size(*burst, "a number of upgrades >= 1");
  }

  void read_static(const Field& field, Static& static_files, std::optional<YAML::Mark>& written_at) const {
    const Section section = read_map(field, {"root"});
    if (const Field* root = section.find("root")) {
      // "" is allowed: it serves no static files (without it, a missing folder would be an error).
      static_files.root = string_value(*root, "a folder, or \"\" to serve no files");
      written_at = value_mark(*root);
    }
  }

  void read_history(const Field& field, History& history, WrittenAt& written_at) const {
    const Section section =
        read_map(field, {"store", "path", "max_events", "max_age", "durability", "flush_interval"});
    if (const Field* store = section.find("store"))
      one_of(*store, history.store, {{"sqlite", History::Store::sqlite}, {"memory", History::Store::memory}});
    if (const Field* path = section.find("path")) {
      history.path = non_empty_string(*path);
      written_at.history_path = value_mark(*path);
    }
    if (const Field* max_events = section.find("max_events"))
      history.max_events = whole_number(*max_events, 1, 100000000);
    if (const Field* max_age = section.find("max_age")) history.max_age = positive_duration(*max_age);
    if (const Field* durability = section.find("durability")) {
      one_of(*durability, history.durability,
             {{"batch", History::Durability::batch}, {"sync", History::Durability::sync}});
      written_at.history_durability = value_mark(*durability);
    }
    if (const Field* interval = section.find("flush_interval")) {
      history.flush_interval = positive_duration(*interval);
      if (history.flush_interval > std::chrono::seconds(10))
        fail_expected(*interval, "a duration from 1ms to 10s, such as 50ms");
    }
  }

  void read_log(const Field& field, Log& log) const {
    const Section section = read_map(field, {"level"});
    if (const Field* level = section.find("level")) {
      one_of(*level, log.level,
             {{"debug", LogLevel::debug},
              {"info", LogLevel::info},
              {"warn", LogLevel::warn},
              {"error", LogLevel::error}});
    }
  }

  // auth: what each mode checks against. Hashes and keys are checked for form here; what only libcrypto can
  // tell (a PEM key's type and size, a hash's parameters) is checked by the server at start-up, pointing
  // at the same text through Written.
  void read_auth(const Field& field, Auth& auth) const {
    const Section section = read_map(field, {"mode", "password_hash", "users", "token_ttl", "cookie_secure",
                                             "login_rate", "login_burst", "api_keys", "jwt"});
    if (const Field* mode = section.find("mode")) {
      one_of(*mode, auth.mode,
             {{"open", Auth::Mode::open}, {"password", Auth::Mode::password}, {"jwt", Auth::Mode::jwt}});
    }
    if (const Field* hash = section.find("password_hash")) {
      auth.password_hash = password_hash(*hash);
      auth.password_hash_written = written(*hash);
    }
    if (const Field* users = section.find("users")) auth.users = read_users(*users);
    if (const Field* ttl = section.find("token_ttl")) auth.token_ttl = positive_duration(*ttl);
    if (const Field* secure = section.find("cookie_secure")) auth.cookie_secure = boolean(*secure);
    if (const Field* rate = section.find("login_rate"))
      auth.login_rate = rate_per_second(*rate, "a number of failed logins per second > 0, such as 0.1");
    if (const Field* burst = section.find("login_burst"))
      auth.login_burst = bucket_size(*burst, "a number of failed logins >= 1");
    if (const Field* keys = section.find("api_keys")) auth.api_keys = read_api_keys(*keys);
    if (const Field* jwt = section.find("jwt")) read_jwt(*jwt, auth.jwt);

    const Field* mode = section.find("mode");
    if (auth.mode == Auth::Mode::password && auth.password_hash.empty() && auth.users.empty()) {
      fail(
          mode ? *mode : field,
          "mode password needs auth.password_hash or auth.users to check passwords against (make a hash with "
          "chatd --hash-password)");
    }
    if (auth.mode == Auth::Mode::jwt && auth.jwt.secret.path.empty() && auth.jwt.public_key.path.empty()) {
      fail(mode ? *mode : field,
           "mode jwt needs auth.jwt.secret_file (HS256) or auth.jwt.public_key_file (RS256, ES256) to check "
           "signatures with");
    }
  }

  void read_jwt(const Field& field, Jwt& jwt) const {
    const Section section =
        read_map(field, {"secret_file", "public_key_file", "issuer", "audience", "leeway"});
    if (const Field* secret = section.find("secret_file")) {
      jwt.secret = secret_file(*secret);
      // RFC 7518 3.2: a key of the same size as the hash output (256 bits) or larger.
      constexpr std::size_t min_secret = 32;
      if (checks_ == FileSystemChecks::at_start_up && jwt.secret.contents.size() < min_secret) {
        fail(*secret, "'" + jwt.secret.path + "' holds " + std::to_string(jwt.secret.contents.size()) +
                          " bytes; an HS256 secret needs at least 32 (RFC 7518 3.2), such as the output of "
                          "openssl rand -hex 32");
      }
    }
    if (const Field* key = section.find("public_key_file")) jwt.public_key = secret_file(*key);
    if (const Field* issuer = section.find("issuer")) jwt.issuer = non_empty_string(*issuer);
    if (const Field* audience = section.find("audience")) jwt.audience = non_empty_string(*audience);
    if (const Field* leeway = section.find("leeway")) {
      jwt.leeway = duration_from_zero(*leeway);
      if (jwt.leeway > std::chrono::minutes(5))
        fail_expected(*leeway, "a duration from 0s to 5m, such as 30s");
    }
  }

  std::vector<UserPassword> read_users(const Field& field) const {
    const std::string expected = "a map of names to password hashes (from chatd --hash-password)";
    if (!field.value.IsMap()) fail_expected(field, expected);
    std::vector<UserPassword> users;
    for (const auto& entry : field.value) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar()) fail(key.Mark(), field.key, "expected a name as key, got " + describe(key));
      const std::string& name = key.Scalar();
      const Field user{child_key(field.key, name), entry.second, key.Mark()};
      if (!is_valid_user_name(name)) {
        fail(key.Mark(), user.key,
             "'" + name + "' is not a valid name (1 to 64 characters, no control characters)");
      }
      for (const UserPassword& earlier : users) {
        if (earlier.name == name) {
          fail(key.Mark(), user.key,
               "user '" + name + "' is given twice (first on line " + std::to_string(earlier.written.line) +
                   ")");
        }
      }
      users.push_back(UserPassword{name, password_hash(user), written(user)});
    }
    return users;
  }

  std::vector<ApiKey> read_api_keys(const Field& field) const {
    const std::string expected = "a list of keys, each {name: ..., sha256: ..., rooms: [...]}";
    if (!field.value.IsSequence()) fail_expected(field, expected);
    std::vector<ApiKey> keys;
    for (const YAML::Node& item : field.value) {
      const std::string item_key = field.key + "[" + std::to_string(keys.size()) + "]";
      const Field item_field{item_key, item, item.Mark()};
      const Section section = read_map(item_field, {"name", "sha256", "rooms"});
      ApiKey key;
      key.written = written(item_field);
      const Field* name = section.find("name");
      const Field* digest = section.find("sha256");
      if (!name || !digest)
        fail(item_field, "every API key needs a name and a sha256 (chatd --new-api-key prints both)");
      key.name = non_empty_string(*name);
      key.sha256 = sha256_hex(*digest);
      if (const Field* rooms = section.find("rooms")) key.rooms = room_patterns(*rooms);
      for (const ApiKey& earlier : keys) {
        if (earlier.sha256 == key.sha256)
          fail(*digest, "this key is listed twice (also as '" + earlier.name + "')");
        if (earlier.name == key.name) fail(*name, "the name '" + key.name + "' is given to two keys");
      }
      keys.push_back(std::move(key));
    }
    return keys;
  }

  // Room names, or prefixes written as "name*": what a key or token may use.
  std::vector<std::string> room_patterns(const Field& field) const {
    std::vector<std::string> patterns;
    for (const Field& item : list_items(field, "a list of room names such as [general, ops*]")) {
      const std::string& pattern = item.value.Scalar();
      const std::string_view name = !pattern.empty() && pattern.back() == '*'
                                        ? std::string_view(pattern).substr(0, pattern.size() - 1)
                                        : std::string_view(pattern);
      if (!(name.empty() && pattern == "*") && !is_valid_room_name(name)) {
        fail(item, "'" + pattern + "' is not a room name or a prefix such as ops*; use " + room_name_rule);
      }
      patterns.push_back(pattern);
    }
    return patterns;
  }

  // A password hash in the form chatd --hash-password prints; its parameters are checked at start-up.
  std::string password_hash(const Field& field) const {
    const std::string expected =
        "a password hash from chatd --hash-password, such as \"$scrypt$ln=15,r=8,p=1$...\"";
    const std::string text = string_value(field, expected);
    if (text.rfind("$scrypt$", 0) != 0) {
      // Never echo the value: it may be a password written in clear by mistake.
      fail(field, "expected " + expected + " (the value is not shown: it may be a password)");
    }
    return text;
  }

  std::string sha256_hex(const Field& field) const {
    const std::string expected = "64 hex digits (the SHA-256 chatd --new-api-key prints)";
    std::string text = string_value(field, expected);
    if (text.size() != 64 ||
        !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isxdigit(c); }))
      fail(field, "expected " + expected + " (the value is not shown: it may be a key)");
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
  }

  Written written(const Field& field) const {
    const YAML::Mark mark = value_mark(field);
    return Written{file_, field.key, mark.line + 1, mark.column + 1};
  }

  // A `*_file` key: a path resolved against the config file's folder, read at load_file time.
  SecretFile secret_file(const Field& field) const {
    SecretFile secret;
    secret.path = resolve_against_base_dir(non_empty_string(field));
    secret.written = written(field);
    if (checks_ != FileSystemChecks::at_start_up) return secret;
    std::string error;
    if (!read_small_file(secret.path, secret.contents, error))
      fail(field, "cannot read '" + secret.path + "': " + error);
    if (secret.contents.ends_with("\r\n")) {
      secret.contents.resize(secret.contents.size() - 2);
    } else if (secret.contents.ends_with("\n")) {
      secret.contents.pop_back();
    }
    if (secret.contents.empty()) fail(field, "'" + secret.path + "' is empty");
    return secret;
  }

  static bool is_valid_user_name(std::string_view name) {
    constexpr std::size_t max_name_bytes = 64 * 4;
    if (name.empty() || name.size() > max_name_bytes) return false;
    std::size_t characters = 0;
    for (unsigned char c : name) {
      if (c < 0x20 || c == 0x7f) return false;
      if ((c & 0xC0) != 0x80) ++characters;
    }
    return characters <= 64;
  }

  Duration duration_from_zero(const Field& field) const {
    const std::string expected = "a duration >= 0 such as 30s";
    const std::string text = string_value(field, expected);
    try {
      const Duration duration = parse_duration(text);
      if (duration < Duration::zero()) fail_expected(field, expected);
      return duration;
    } catch (const std::invalid_argument& error) {
      fail_expected(field, expected, error.what());
    }
  }

  // admin: { listen: "HOST:PORT" }, an IP literal as listen.address is ("[::1]:9280" for IPv6), or "" for no
  // admin listener. Port 0 takes any free port, logged at start-up as "admin listening on".
  void read_admin(const Field& field, Admin& admin, std::optional<YAML::Mark>& written_at) const {
    const Section section = read_map(field, {"listen"});
    const Field* listen = section.find("listen");
    if (!listen) return;
    written_at = listen->value.Mark();
    admin.written = written(*listen);
    const std::string expected = "HOST:PORT such as 127.0.0.1:9280 or \"[::1]:9280\", or \"\" for none";
    const std::string text = string_value(*listen, expected);
    if (text.empty()) {
      admin.enabled = false;
      return;
    }
    std::string host;
    std::string port;
    if (text.starts_with('[')) {
      const std::size_t close = text.find(']');
      if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
        fail_expected(*listen, expected, "an IPv6 address in brackets, then ':PORT'");
      host = text.substr(1, close - 1);
      port = text.substr(close + 2);
    } else {
      const std::size_t colon = text.rfind(':');
      if (colon == std::string::npos) fail_expected(*listen, expected, "no ':PORT'");
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (host.find(':') != std::string::npos)
        fail_expected(*listen, expected,
                      "an IPv6 address is written in brackets: \"[" + host + "]:" + port + "\"");
    }
    in6_addr parsed{};
    if (inet_pton(AF_INET, host.c_str(), &parsed) != 1 && inet_pton(AF_INET6, host.c_str(), &parsed) != 1)
      fail_expected(*listen, expected, "'" + host + "' is not an IP address (hostnames are not resolved)");
    unsigned number = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || error != std::errc{} || end != port.data() + port.size() || number > 65535)
      fail_expected(*listen, expected, "the port must be a whole number from 0 to 65535");
    admin.listen = Listen{host, static_cast<std::uint16_t>(number)};
  }

  // cluster: several nodes as one service on Redis (docs/cluster.md). Only the text is checked, so
  // --check-config needs no Redis; whether Redis answers is for the engine to find at start-up.
  void read_cluster(const Field& field, Cluster& cluster) const {
    const Section section = read_map(field, {"engine", "redis", "node_ttl", "unavailable_wait"});
    cluster.engine_written = Written{file_, "cluster.engine", 0, 0};  // the default: no position
    if (const Field* engine = section.find("engine")) {
      one_of(*engine, cluster.engine, {{"none", Cluster::Engine::none}, {"redis", Cluster::Engine::redis}});
      cluster.engine_written = written(*engine);
    }
    if (const Field* redis = section.find("redis")) read_redis(*redis, cluster.redis);
    // Heartbeats go every node_ttl / 4: under 3 s one stall of Redis or of the node (a slow command, a 2 s
    // SIGSTOP, a VM pause) would have a live node reaped and all its users sent a leave. Over an hour a dead
    // node's users would be shown present for longer than anyone waits.
    const Field* ttl = section.find("node_ttl");
    if (ttl) {
      cluster.node_ttl = bounded_duration(*ttl, std::chrono::seconds(3), std::chrono::hours(1),
                                          "a duration from 3s to 1h, such as 15s");
    }
    const Field* wait = section.find("unavailable_wait");
    if (wait) cluster.unavailable_wait = positive_duration(*wait);
    // A publish must hear 503 (or close 1013) while its node is still alive to the others: one that waited
    // for Redis as long as node_ttl could be answered after its node was reaped and its users had left.
    if (cluster.unavailable_wait >= cluster.node_ttl) {
      const std::string ttl_text = ttl ? ttl->value.Scalar() : "15s, the default";
      if (wait) {
        fail_expected(*wait, "a duration > 0 and less than cluster.node_ttl (" + ttl_text + ")");
      }
      // Both defaults would pass, so node_ttl was written.
      fail_expected(*ttl, "a duration more than cluster.unavailable_wait (1s, the default)");
    }
  }

  void read_redis(const Field& field, Cluster::Redis& redis) const {
    const Section section = read_map(field, {"address", "password_file", "prefix"});
    if (const Field* address = section.find("address")) redis_address(*address, redis);
    if (const Field* password = section.find("password_file")) {
      // "" = no AUTH, as chat.yaml writes it: the key is there to be filled in.
      if (!string_value(*password, "a file holding the Redis password, or \"\" for none").empty())
        redis.password = secret_file(*password);
    }
    if (const Field* prefix = section.find("prefix")) redis.prefix = key_prefix(*prefix);
  }

  // HOST:PORT of Redis. Unlike listen.address a host name is allowed: Redis is often reached by a service's
  // name (a container, a DNS name moved on failover), which the engine resolves at each connect. An IPv6
  // address is written in brackets, as in a URL (RFC 3986 3.2.2), and kept without them.
  void redis_address(const Field& field, Cluster::Redis& redis) const {
    const std::string expected = "HOST:PORT such as 127.0.0.1:6379, redis.internal:6379 or \"[::1]:6379\"";
    const std::string text = string_value(field, expected);
    const std::string_view address = text;
    std::string_view host;
    std::string_view port;
    if (address.starts_with('[')) {
      const std::size_t close = address.find(']');
      if (close == std::string_view::npos) fail_expected(field, expected, "no ']' after the IPv6 address");
      host = address.substr(1, close - 1);
      in6_addr ipv6{};
      if (inet_pton(AF_INET6, std::string(host).c_str(), &ipv6) != 1)
        fail_expected(field, expected, "'" + std::string(host) + "' is not an IPv6 address");
      if (address.size() == close + 1 || address[close + 1] != ':')
        fail_expected(field, expected, "no ':PORT' after the ']'");
      port = address.substr(close + 2);
    } else {
      const std::size_t colon = address.rfind(':');
      if (colon == std::string_view::npos) fail_expected(field, expected, "no ':PORT'; Redis's own is 6379");
      host = address.substr(0, colon);
      port = address.substr(colon + 1);
      if (host.find(':') != std::string_view::npos) {
        fail_expected(field, expected,
                      "an IPv6 address is written in brackets: \"[" + std::string(host) +
                          "]:" + std::string(port) + "\"");
      }
      if (const std::string problem = host_name_problem(host); !problem.empty())
        fail_expected(field, expected, problem);
    }
    std::uint16_t number = 0;
    const auto [parsed_to, error] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || error != std::errc{} || parsed_to != port.data() + port.size() || number == 0)
      fail_expected(field, expected, "the port must be a whole number from 1 to 65535");
    redis.host = std::string(host);
    redis.port = number;
  }

  // Every key is PREFIX:{ROOM}:... and every channel PREFIX:{ROOM} (docs/cluster.md). A '{' or '}' in the
  // prefix could make the hash tag something other than {ROOM} (Redis Cluster hashes only the first {...} of
  // a key: every room would land in one slot), and with a ':' the prefix "a:b" would be inside "a"'s
  // namespace: `redis-cli --scan --pattern 'a:*'`, to list or clear one deployment, would take the other's.
  std::string key_prefix(const Field& field) const {
    const std::string expected =
        "1 to 32 characters from A-Z, a-z, 0-9, '.', '_' and '-' (no ':', '{' or '}', "
        "which the keys are made of)";
    const std::string text = string_value(field, expected);
    constexpr std::size_t max_prefix = 32;
    const bool allowed = std::all_of(text.begin(), text.end(), [](unsigned char c) {
      return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '-';
    });
    if (text.empty() || text.size() > max_prefix || !allowed) fail_expected(field, expected);
    return text;
  }

  // ---- Values ----

  // Any scalar is a string: "port: 80" read as a string is "80".
  std::string string_value(const Field& field, const std::string& expected) const {
    if (!field.value.IsScalar()) fail_expected(field, expected);
    return field.value.Scalar();
  }

  // One of a few words, each standing for a value: "a or b", "one of a, b, c" in the error.
  template <typename T>
  void one_of(const Field& field, T& out,
              std::initializer_list<std::pair<std::string_view, std::type_identity_t<T>>> choices) const {
    std::string expected;
    std::size_t index = 0;
    for (const auto& [word, value] : choices) {
      if (index > 0) expected += choices.size() == 2 ? " or " : ", ";
      expected += word;
      ++index;
    }
    if (choices.size() > 2) expected = "one of " + expected;
    const std::string text = string_value(field, expected);
    for (const auto& [word, value] : choices) {
      if (text == word) {
        out = value;
        return;
      }
    }
    fail_expected(field, expected);
  }

  // Only an IPv4 or IPv6 literal: the server listens on exactly the address written. A hostname would need
  // a DNS lookup at start-up and could name several addresses, or others after a restart.
  std::string ip_address(const Field& field) const {
    const std::string text = non_empty_string(field);
    in6_addr parsed{};  // room for either family
    if (inet_pton(AF_INET, text.c_str(), &parsed) != 1 && inet_pton(AF_INET6, text.c_str(), &parsed) != 1) {
      fail(field, "'" + text +
                      "' is not an IP address (hostnames are not resolved; use 127.0.0.1 or ::1, or 0.0.0.0 "
                      "or :: for every interface)");
    }
    return text;
  }

  std::string non_empty_string(const Field& field) const {
    std::string text = string_value(field, "a non-empty string");
    if (text.empty()) fail_expected(field, "a non-empty string");
    return text;
  }

  std::uint64_t whole_number(const Field& field, std::uint64_t min, std::uint64_t max) const {
    const std::string expected =
        max == std::numeric_limits<std::uint64_t>::max()
            ? "a whole number >= " + std::to_string(min)
            : "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
    const std::string text = string_value(field, expected);
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [parsed_to, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc{} || parsed_to != end || value < min || value > max)
      fail_expected(field, expected);
    return value;
  }

  double number(const Field& field, const std::string& expected) const {
    const std::string text = string_value(field, expected);
    double value = 0;
    const char* end = text.data() + text.size();
    const auto [parsed_to, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc{} || parsed_to != end || !std::isfinite(value)) fail_expected(field, expected);
    return value;
  }

  // Only the words true and false: YAML 1.1's yes/no/on/off are too easy to write by accident.
  bool boolean(const Field& field) const {
    const std::string text = string_value(field, "true or false");
    if (text == "true") return true;
    if (text == "false") return false;
    fail_expected(field, "true or false");
  }

  Duration positive_duration(const Field& field) const {
    const std::string expected = "a duration > 0 such as 5s, 250ms or 2m";
    const std::string text = string_value(field, expected);
    Duration duration{};
    try {
      duration = parse_duration(text);
    } catch (const std::invalid_argument& error) {
      fail_expected(field, expected, error.what());
    }
    if (duration <= Duration::zero()) fail_expected(field, expected);
    return duration;
  }

  // A duration from `min` to `max`, both included.
  Duration bounded_duration(const Field& field, Duration min, Duration max,
                            const std::string& expected) const {
    const std::string text = string_value(field, expected);
    Duration duration{};
    try {
      duration = parse_duration(text);
    } catch (const std::invalid_argument& error) {
      fail_expected(field, expected, error.what());
    }
    if (duration < min || duration > max) fail_expected(field, expected);
    return duration;
  }

  std::size_t size_in_range(const Field& field, std::size_t min, std::size_t max,
                            const std::string& expected) const {
    const std::string text = string_value(field, expected);
    std::size_t size = 0;
    try {
      size = parse_size(text);
    } catch (const std::invalid_argument& error) {
      fail_expected(field, expected, error.what());
    }
    if (size < min || size > max) fail_expected(field, expected);
    return size;
  }

  std::string url_path(const Field& field) const {
    const std::string expected = "a URL path starting with '/', such as /publish";
    std::string path = string_value(field, expected);
    if (path.empty() || path.front() != '/') fail_expected(field, expected);
    // A request path never contains these, so a route with them could never match.
    if (path.find_first_of(" \t?#") != std::string::npos)
      fail(field, "'" + path + "' cannot contain spaces, '?' or '#'");
    return path;
  }

  std::string room_name(const Field& field) const {
    const std::string expected = std::string("a room name of ") + room_name_rule;
    std::string name = string_value(field, expected);
    if (!is_valid_room_name(name)) fail_expected(field, expected);
    return name;
  }

  // The items of a list, each checked to be a scalar. Problems with an item point at the item.
  std::vector<Field> list_items(const Field& field, const std::string& expected) const {
    if (!field.value.IsSequence()) fail_expected(field, expected);
    std::vector<Field> items;
    for (const YAML::Node& item : field.value) {
      const Field item_field{field.key, item, item.Mark()};
      if (!item.IsScalar()) {
        fail(item_field, "expected every item to be a string, got " + describe(item) + " as item " +
                             std::to_string(items.size() + 1));
      }
      items.push_back(item_field);
    }
    return items;
  }

  std::vector<std::string> string_list(const Field& field, const std::string& expected) const {
    std::vector<std::string> strings;
    for (const Field& item : list_items(field, expected)) strings.push_back(item.value.Scalar());
    return strings;
  }

  std::vector<std::string> room_names(const Field& field) const {
    std::vector<std::string> names;
    for (const Field& item : list_items(field, "a list of room names such as [general, random]")) {
      const std::string& name = item.value.Scalar();
      if (!is_valid_room_name(name))
        fail(item, "'" + name + "' is not a valid room name; use " + room_name_rule);
      if (std::find(names.begin(), names.end(), name) != names.end())
        fail(item, "room '" + name + "' is listed twice");
      names.push_back(name);
    }
    return names;
  }

  // ---- Paths ----

  std::string resolve_against_base_dir(const std::string& path) const {
    if (path.empty() || std::filesystem::path(path).is_absolute() || base_dir_.empty() || base_dir_ == ".")
      return path;
    return (std::filesystem::path(base_dir_) / path).string();
  }

  PathSetting path_setting(std::string key, const std::string& written,
                           const std::optional<YAML::Mark>& mark) const {
    return PathSetting{std::move(key), written, resolve_against_base_dir(written), mark};
  }

  // The server serves files from it: it must be a folder chatd may list and read.
  void check_static_root(const PathSetting& root) const {
    std::error_code error;
    const auto status = std::filesystem::status(root.resolved, error);
    if (!std::filesystem::exists(status)) {
      fail_path(root,
                "no folder " + root.resolved + "; create it, or write static.root: \"\" to serve no files");
    }
    if (!std::filesystem::is_directory(status)) fail_path(root, root.resolved + " is not a folder");
    if (::access(root.resolved.c_str(), R_OK | X_OK) != 0)
      fail_path(root, "cannot read the folder " + root.resolved + " (" + std::strerror(errno) + ")");
  }

  // SQLite makes the database if it is missing, and PATH-wal and PATH-shm beside it: the folder must exist
  // and be writable, and an existing database a regular file chatd may read and write.
  void check_history_path(const PathSetting& path) const {
    std::filesystem::path folder = std::filesystem::path(path.resolved).parent_path();
    if (folder.empty()) folder = ".";
    std::error_code error;
    if (!std::filesystem::is_directory(folder, error))
      fail_path(path, "the folder " + folder.string() + " does not exist (chatd does not create folders)");
    if (::access(folder.c_str(), W_OK | X_OK) != 0) {
      fail_path(path, "cannot write in the folder " + folder.string() + " (" + std::strerror(errno) +
                          "); SQLite writes the database and its -wal and -shm files there");
    }
    const auto status = std::filesystem::status(path.resolved, error);
    if (!std::filesystem::exists(status)) return;  // made at start-up
    if (!std::filesystem::is_regular_file(status)) fail_path(path, path.resolved + " is not a regular file");
    if (::access(path.resolved.c_str(), R_OK | W_OK) != 0) {
      fail_path(path, "cannot read and write " + path.resolved + " (" + std::strerror(errno) + ")");
    }
  }

  const std::string file_;
  const std::string base_dir_;
  const FileSystemChecks checks_;
};

// A file descriptor closed when it goes out of scope.
struct OpenFile {
  explicit OpenFile(int descriptor) : fd(descriptor) {}
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  const int fd;
};

// The file, or throws ConfigError with the reason it could not be read. Stops reading once it holds more
// than max_config_size bytes, so that Loader::load refuses a larger file without reading all of it.
std::string read_config_file(const std::string& path) {
  const auto cannot_read = [&path](int error) {
    return ConfigError(path, "", 0, 0, std::string("cannot read config file: ") + std::strerror(error));
  };
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer. It changes nothing for a regular file.
  const OpenFile file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (file.fd < 0) throw cannot_read(errno);

  // A device (/dev/zero), a FIFO or a folder is never a config, and reading one may never end.
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) throw cannot_read(errno);
  if (!S_ISREG(info.st_mode)) throw ConfigError(path, "", 0, 0, "not a regular file");

  std::string contents;
  char buffer[8192];
  while (contents.size() <= max_config_size) {
    const ssize_t count = ::read(file.fd, buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) throw cannot_read(errno);
    if (count == 0) break;
    contents.append(buffer, static_cast<std::size_t>(count));
  }
  return contents;
}

}  // namespace

Config load_file(const std::string& path) {
  const std::string contents = read_config_file(path);
  const std::string folder = std::filesystem::path(path).parent_path().string();
  return Loader(path, folder.empty() ? "." : folder, FileSystemChecks::at_start_up).load(contents);
}

Config load_string(std::string_view yaml, const std::string& file_name, const std::string& base_dir) {
  return Loader(file_name, base_dir, FileSystemChecks::none).load(yaml);
}

}  // namespace chatd::config
