// The admin: section (config/config_loader.cpp, read_admin): the default, every form of admin.listen, and
// each refusal with the FILE:LINE:COLUMN and key it points at.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "config/config.hpp"
#include "test/unit/config/config_errors.hpp"

using namespace chatd::config;
using chatd::config::test::error_of;

namespace {

constexpr std::string_view expected =
    "expected HOST:PORT such as 127.0.0.1:9280 or \"[::1]:9280\", or \"\" for none, got ";

}  // namespace

TEST_CASE("admin.listen: on by default, on loopback, not on Prometheus' own port") {
  const Config config = load_string("");
  CHECK(config.admin.enabled);
  CHECK(config.admin.listen.address == "127.0.0.1");
  CHECK(config.admin.listen.port == 9280);
}

TEST_CASE("admin.listen: HOST:PORT with an IP literal, IPv6 in brackets, port 0, or empty for none") {
  const Config v4 = load_string("admin: { listen: \"0.0.0.0:9100\" }");
  CHECK(v4.admin.enabled);
  CHECK(v4.admin.listen.address == "0.0.0.0");
  CHECK(v4.admin.listen.port == 9100);
  const Config v6 = load_string("admin: { listen: \"[::1]:0\" }");
  CHECK(v6.admin.listen.address == "::1");
  CHECK(v6.admin.listen.port == 0);
  const Config off = load_string("admin: { listen: \"\" }");
  CHECK_FALSE(off.admin.enabled);
}

TEST_CASE("admin.listen: what is refused, and where it was written") {
  CHECK(error_of("admin: { listen: localhost:9280 }") ==
        "test.yaml:1:18: admin.listen: " + std::string(expected) +
            "'localhost:9280' ('localhost' is not an IP address (hostnames are not resolved))");
  CHECK(error_of("admin: { listen: \"127.0.0.1\" }") ==
        "test.yaml:1:18: admin.listen: " + std::string(expected) + "'127.0.0.1' (no ':PORT')");
  CHECK(error_of("admin: { listen: \"127.0.0.1:65536\" }") ==
        "test.yaml:1:18: admin.listen: " + std::string(expected) +
            "'127.0.0.1:65536' (the port must be a whole number from 0 to 65535)");
  CHECK(error_of("admin: { listen: \"::1:9280\" }") ==
        "test.yaml:1:18: admin.listen: " + std::string(expected) +
            "'::1:9280' (an IPv6 address is written in brackets: \"[::1]:9280\")");
  CHECK(error_of("admin: { port: 1 }").find("unknown key 'port' (known: listen)") != std::string::npos);
}

TEST_CASE("admin.listen: never the public listener's port") {
  CHECK(
      error_of("listen: { port: 8080 }\nadmin: { listen: \"127.0.0.1:8080\" }") ==
      "test.yaml:2:18: admin.listen: the admin listener needs a port of its own: 127.0.0.1:8080 is listen's "
      "(127.0.0.1:8080)");
  // Whichever section comes first, and a wildcard address overlaps every other.
  CHECK(
      error_of("admin: { listen: \"0.0.0.0:8080\" }\nlisten: { port: 8080 }").starts_with("test.yaml:1:18:"));
  // Port 0 is any free port: never the same one.
  CHECK(load_string("listen: { port: 0 }\nadmin: { listen: \"127.0.0.1:0\" }").admin.enabled);
  CHECK(load_string("listen: { address: 127.0.0.2, port: 8080 }\nadmin: { listen: \"127.0.0.1:8080\" }")
            .admin.enabled);
}
