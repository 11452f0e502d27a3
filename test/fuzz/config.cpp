// libFuzzer target: config::load_string. Oracles: it either loads or throws ConfigError (nothing else);
// every message is "FILE:LINE:COLUMN: ..." with 1-based numbers inside the text, or "FILE: ..." when
// line() is 0 (config.hpp); a relative static.root is resolved against the base folder; and a loaded
// config re-loads to the same values (loading is a function of the text).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "test/fuzz/check.hpp"

namespace {

constexpr std::string_view file_name = "fuzz.yaml";

// Counts lines as yaml-cpp's marks do: after each '\n', and after a '\r' not followed by '\n'.
int line_count(std::string_view text) {
  int lines = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'))) ++lines;
  }
  return lines;
}

void check_error(const chatd::config::ConfigError& error, std::string_view text) {
  const std::string message = error.what();
  FUZZ_CHECK(error.file() == file_name);
  if (error.line() > 0) {
    FUZZ_CHECK(error.line() <= line_count(text) + 1);
    FUZZ_CHECK(error.column() >= 1);
    const std::string prefix = std::string(file_name) + ":" + std::to_string(error.line()) + ":" +
                               std::to_string(error.column()) + ": ";
    FUZZ_CHECK(message.starts_with(prefix));
    FUZZ_CHECK(message.size() > prefix.size());
  } else {
    FUZZ_CHECK(message.starts_with(std::string(file_name) + ": "));
  }
}

// The loaded values, as text: two loads of one text must agree on every one of them.
std::string fingerprint(const chatd::config::Config& c) {
  std::string out =
      c.listen.address + " " + std::to_string(c.listen.port) + " " + std::to_string(c.server.threads);
  for (const auto* route : {&c.routes.subscribe, &c.routes.publish, &c.routes.health, &c.routes.presence,
                            &c.routes.history, &c.routes.static_files}) {
    out += " " + *route;
  }
  out +=
      " " + c.rooms.default_room + " " + std::to_string(c.rooms.dynamic) + " " + std::to_string(c.rooms.max);
  for (const auto& name : c.rooms.names) out += " room:" + name;
  out += " " + std::to_string(c.subscriber.queue) + " " + std::to_string(c.subscriber.write_timeout.count()) +
         " " + std::to_string(c.subscriber.ping_interval.count());
  for (const auto& origin : c.subscriber.allowed_origins) out += " origin:" + origin;
  out +=
      " " + std::to_string(c.publish.rate) + " " + std::to_string(c.publish.burst) + " " +
      std::to_string(c.limits.max_message_size) + " " + std::to_string(c.limits.max_header_size) + " " +
      c.static_files.root + " " + std::to_string(static_cast<int>(c.history.store)) + " " + c.history.path +
      " " + std::to_string(c.history.max_events) + " " + std::to_string(c.history.max_age.count()) + " " +
      std::to_string(static_cast<int>(c.history.durability)) + " " +
      std::to_string(c.history.flush_interval.count()) + " " + std::to_string(static_cast<int>(c.log.level));
  out += " " + std::to_string(static_cast<int>(c.cluster.engine)) + " " + c.cluster.redis.host + " " +
         std::to_string(c.cluster.redis.port) + " " + c.cluster.redis.password.path + " " +
         c.cluster.redis.prefix + " " + std::to_string(c.cluster.node_ttl.count()) + " " +
         std::to_string(c.cluster.unavailable_wait.count());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string first;
  try {
    const auto config = chatd::config::load_string(text, std::string(file_name), "/base");
    first = fingerprint(config);
    // A relative static.root is resolved against the base folder ("" serves no files).
    FUZZ_CHECK(config.static_files.root.empty() || config.static_files.root.starts_with("/"));
  } catch (const chatd::config::ConfigError& error) {
    check_error(error, text);
    first = error.what();
  }
  // The same text gives the same outcome.
  std::string second;
  try {
    second = fingerprint(chatd::config::load_string(text, std::string(file_name), "/base"));
  } catch (const chatd::config::ConfigError& error) {
    second = error.what();
  }
  FUZZ_CHECK(first == second);
  return 0;
}
