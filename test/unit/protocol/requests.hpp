// HTTP requests for the tests of the request reader and of the opening handshake: a reader fed a whole
// request, and a WebSocket upgrade request with each part replaceable.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "protocol/http_request.hpp"

namespace chatd::test {

// A reader fed `request` in one go.
struct Parsed {
  explicit Parsed(std::string_view request, std::size_t max_header = 8192, std::size_t max_body = 1024)
      : reader(max_header, max_body) {
    used = reader.feed(request);
  }
  protocol::HttpRequestReader reader;
  std::size_t used = 0;
};

inline constexpr std::string_view rfc_key = "dGhlIHNhbXBsZSBub25jZQ==";

inline std::string upgrade_request(std::string_view method = "GET", std::string_view version = "HTTP/1.1",
                                   std::string_view key = rfc_key, std::string_view ws_version = "13",
                                   bool with_upgrade = true) {
  std::string request = std::string(method) + " /subscribe?room=ops " + std::string(version) +
                        "\r\nHost: server.example.com\r\n";
  if (with_upgrade) request += "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  request += "Sec-WebSocket-Key: " + std::string(key) + "\r\n";
  request += "Sec-WebSocket-Version: " + std::string(ws_version) + "\r\n\r\n";
  return request;
}

}  // namespace chatd::test
