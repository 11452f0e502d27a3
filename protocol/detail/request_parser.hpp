// websocketpp's HTTP request parser, with access to the state it keeps protected.
// Private to protocol/: nothing outside includes websocketpp headers.
#pragma once

#include "protocol/websocket_config.hpp"

namespace chatd::protocol::detail {

class RequestParser : public websocketpp::http::parser::request {
 public:
  bool has_plain_body() const { return m_body_encoding == websocketpp::http::parser::body_encoding::plain; }
};

}  // namespace chatd::protocol::detail
