// What one request turned into: a response to write, or a session (WebSocket, event stream) to hand the
// socket over to.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "protocol/http_response.hpp"

namespace chatd {

class Session;

struct Outcome {
  protocol::HttpResponse response;
  std::shared_ptr<Session> session;
  std::string session_response;  // with `session`: the 101 or 200 it writes once it is in the room
};

// The outcome that is just `response`.
inline Outcome respond_with(protocol::HttpResponse response) {
  Outcome outcome;
  outcome.response = std::move(response);
  return outcome;
}

}  // namespace chatd
