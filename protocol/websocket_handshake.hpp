// The server side of the RFC 6455 opening handshake, on websocketpp's hybi13 processor.
#pragma once

#include <string>

#include "protocol/http_request.hpp"
#include "protocol/http_response.hpp"

namespace chatd::protocol {

struct HandshakeResult {
  bool accepted = false;
  HttpResponse response;  // 101 with the Accept key, or the refusal (400 / 426)
};

// Checks an upgrade request: 426 when it is not a WebSocket upgrade or not version 13,
// 400 when it is malformed (not GET, not HTTP/1.1, missing or invalid Sec-WebSocket-Key).
HandshakeResult accept_websocket(const HttpRequestReader& request);

}  // namespace chatd::protocol
