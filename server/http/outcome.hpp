// What one request turned into: a response to write, or a WebSocket session to hand the socket over to.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "protocol/http_response.hpp"

namespace chatd {

class WebSocketSession;

struct Outcome {
  protocol::HttpResponse response;
  std::shared_ptr<WebSocketSession> upgrade;
  std::string handshake_response;  // with `upgrade`: the 101 the session sends once it is in the room
};

// The outcome that is just `response`.
inline Outcome respond_with(protocol::HttpResponse response) {
  Outcome outcome;
  outcome.response = std::move(response);
  return outcome;
}

}  // namespace chatd
