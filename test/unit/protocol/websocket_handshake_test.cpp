// The WebSocket opening handshake (protocol/websocket_handshake): the RFC 6455 example and every refusal.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "protocol/http_response.hpp"
#include "protocol/websocket_handshake.hpp"
#include "test/unit/protocol/requests.hpp"

using namespace chatd::protocol;
using namespace chatd::test;
using namespace std::string_view_literals;

namespace {

std::string header_value(const HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("accept_websocket: the RFC 6455 example") {
  Parsed parsed(upgrade_request());
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  const auto result = accept_websocket(parsed.reader);
  CHECK(result.accepted);
  CHECK(result.response.status == 101);
  CHECK(header_value(result.response, "Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(header_value(result.response, "Upgrade") == "websocket");
  CHECK(header_value(result.response, "Connection") == "Upgrade");
  const std::string wire = serialize(result.response);
  CHECK(wire.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
  CHECK(wire.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
  CHECK(wire.find("Content-Length") == std::string::npos);
  CHECK(wire.substr(wire.size() - 4) == "\r\n\r\n");
}

TEST_CASE("accept_websocket: refusals") {
  SUBCASE("no Upgrade -> 426 with Upgrade and Sec-WebSocket-Version") {
    Parsed parsed(upgrade_request("GET", "HTTP/1.1", rfc_key, "13", false));
    const auto result = accept_websocket(parsed.reader);
    CHECK_FALSE(result.accepted);
    CHECK(result.response.status == 426);
    CHECK(header_value(result.response, "Upgrade") == "websocket");
    CHECK(header_value(result.response, "Sec-WebSocket-Version") == "13");
    CHECK(result.response.close);
  }
  SUBCASE("version 8 -> 426") {
    Parsed parsed(upgrade_request("GET", "HTTP/1.1", rfc_key, "8"));
    const auto result = accept_websocket(parsed.reader);
    CHECK_FALSE(result.accepted);
    CHECK(result.response.status == 426);
    CHECK(header_value(result.response, "Sec-WebSocket-Version") == "13");
  }
  SUBCASE("POST -> 400") {
    Parsed parsed(upgrade_request("POST"));
    REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
    const auto result = accept_websocket(parsed.reader);
    CHECK_FALSE(result.accepted);
    CHECK(result.response.status == 400);
    CHECK(header_value(result.response, "Upgrade") == "<absent>");
  }
  SUBCASE("HTTP/1.0 -> 400") {
    Parsed parsed(upgrade_request("GET", "HTTP/1.0"));
    const auto result = accept_websocket(parsed.reader);
    CHECK_FALSE(result.accepted);
    CHECK(result.response.status == 400);
  }
  SUBCASE("bad keys -> 400") {
    for (std::string_view key : {"abc"sv, "dGhlIHNhbXBsZSBub25jZQ="sv, "dGhlIHNhbXBsZSBub25jZ!=="sv,
                                 "dGhlIHNhbXBsZSBub25jZQ==="sv}) {
      Parsed parsed(upgrade_request("GET", "HTTP/1.1", key));
      const auto result = accept_websocket(parsed.reader);
      CHECK_MESSAGE(!result.accepted, key);
      CHECK_MESSAGE(result.response.status == 400, key);
    }
  }
  SUBCASE("missing key -> 400") {
    Parsed parsed(
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n");
    const auto result = accept_websocket(parsed.reader);
    CHECK_FALSE(result.accepted);
    CHECK(result.response.status == 400);
  }
}
