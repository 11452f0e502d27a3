// server/http/client_address: whose Forwarded / X-Forwarded-For is believed (only a trusted proxy's), and
// which address of the chain is the client (the first, from the nearest hop back, that is not a trusted
// proxy).
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "config/config.hpp"
#include "server/http/client_address.hpp"
#include "test/unit/protocol/requests.hpp"

using chatd::forwarded_client;
using chatd::test::Parsed;

namespace {

chatd::config::Server settings(const std::string& list, const std::string& header) {
  return chatd::config::load_string("server: { trusted_proxies: " + list + ", forwarded_header: " + header +
                                    " }")
      .server;
}

constexpr const char* trusted = "[127.0.0.1, 10.0.0.0/8, \"fd00::/8\"]";

std::optional<std::string> client(const std::string& headers, const std::string& peer,
                                  const std::string& proxies = trusted,
                                  const std::string& header = "x-forwarded-for") {
  Parsed parsed("GET /publish HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n");
  REQUIRE(parsed.reader.state() == chatd::protocol::HttpRequestReader::State::complete);
  return forwarded_client(parsed.reader, settings(proxies, header), peer);
}

}  // namespace

TEST_CASE("client address: only a trusted peer's headers count") {
  CHECK(client("X-Forwarded-For: 203.0.113.7\r\n", "127.0.0.1") == "203.0.113.7");
  CHECK(client("X-Forwarded-For: 203.0.113.7\r\n", "192.0.2.9") == std::nullopt);  // not a proxy: spoofing
  CHECK(client("X-Forwarded-For: 203.0.113.7\r\n", "10.1.2.3") == "203.0.113.7");
  CHECK(client("X-Forwarded-For: 203.0.113.7\r\n", "fd12::1") == "203.0.113.7");
  CHECK(client("", "127.0.0.1") == std::nullopt);  // a trusted peer with no header: the peer itself
  CHECK(client("X-Forwarded-For: 203.0.113.7\r\n", "127.0.0.1", "[]") == std::nullopt);
}

TEST_CASE("client address: the chain is walked from the nearest hop, past trusted proxies only") {
  // What a client put first is not believed past an untrusted hop: 198.51.100.1 is who reached our proxy.
  CHECK(client("X-Forwarded-For: 6.6.6.6, 198.51.100.1\r\n", "127.0.0.1") == "198.51.100.1");
  // Trusted proxies in the chain vouch for the hop before them.
  CHECK(client("X-Forwarded-For: 203.0.113.7, 10.0.0.5\r\n", "127.0.0.1") == "203.0.113.7");
  // Every hop trusted: the first one.
  CHECK(client("X-Forwarded-For: 10.0.0.9, 10.0.0.5\r\n", "127.0.0.1") == "10.0.0.9");
  // Garbage or "unknown" stops the walk at the last trusted hop.
  CHECK(client("X-Forwarded-For: 203.0.113.7, nonsense\r\n", "127.0.0.1") == "127.0.0.1");
  CHECK(client("X-Forwarded-For: 203.0.113.7, nonsense, 10.0.0.5\r\n", "127.0.0.1") == "10.0.0.5");
}

TEST_CASE("client address: only the configured header is read, and addresses come back in their usual form") {
  const std::string both = "Forwarded: for=\"[2001:db8::17]:4711\"\r\nX-Forwarded-For: 203.0.113.7\r\n";
  CHECK(client(both, "127.0.0.1") == "203.0.113.7");  // the default, x-forwarded-for
  CHECK(client(both, "127.0.0.1", trusted, "forwarded") == "2001:db8::17");
  // The other header, a client's own passed through by the proxy, is not read.
  CHECK(client("Forwarded: for=198.51.100.2\r\n", "127.0.0.1") == std::nullopt);
  CHECK(client("X-Forwarded-For: 198.51.100.2\r\n", "127.0.0.1", trusted, "forwarded") == std::nullopt);
  CHECK(client("Forwarded: for=unknown\r\n", "127.0.0.1", trusted, "forwarded") == "127.0.0.1");
  CHECK(client("X-Forwarded-For: ::ffff:203.0.113.7\r\n", "127.0.0.1") == "203.0.113.7");
  CHECK(client("X-Forwarded-For: 2001:DB8:0:0::1\r\n", "127.0.0.1") == "2001:db8::1");
  // A peer given as a v4-mapped IPv6 address (a dual-stack listener) is the same IPv4 proxy.
  CHECK(client("X-Forwarded-For: 203.0.113.7\r\n", "::ffff:127.0.0.1") == "203.0.113.7");
}
