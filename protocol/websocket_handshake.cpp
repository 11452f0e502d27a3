#include "protocol/websocket_handshake.hpp"

#include <algorithm>
#include <cctype>

#include <websocketpp/processors/hybi13.hpp>

#include "protocol/detail/request_parser.hpp"

namespace chatd::protocol {

namespace {

using Processor = websocketpp::processor::hybi13<WebsocketConfig>;

// A key is the base64 form of 16 random bytes: 22 base64 characters and "==".
bool is_valid_key(const std::string& key) {
  if (key.size() != 24 || key.compare(22, 2, "==") != 0) return false;
  return std::all_of(key.begin(), key.begin() + 22,
                     [](unsigned char c) { return std::isalnum(c) || c == '+' || c == '/'; });
}

HandshakeResult refuse(int status, std::string_view why) {
  HandshakeResult result;
  result.response = error_response(status, why);
  result.response.close = true;
  if (status == 426) {
    result.response.headers.emplace_back("Upgrade", "websocket");
    result.response.headers.emplace_back("Sec-WebSocket-Version", "13");
  }
  return result;
}

}  // namespace

HandshakeResult accept_websocket(const HttpRequestReader& request) {
  if (!request.is_websocket_upgrade()) return refuse(426, "this route needs a WebSocket upgrade");
  const std::string& version = request.header("Sec-WebSocket-Version");
  if (version != "13") return refuse(426, "only WebSocket version 13 is supported");

  static websocketpp::random::none::int_generator<uint32_t> rng;  // kept by reference; never used by a server
  const Processor processor(false, true, std::make_shared<WebsocketConfig::con_msg_manager_type>(), rng);
  const auto& parser = request.parser();
  if (processor.validate_handshake(parser))
    return refuse(400, "invalid WebSocket handshake (needs GET and HTTP/1.1)");
  if (!is_valid_key(request.header("Sec-WebSocket-Key"))) return refuse(400, "invalid Sec-WebSocket-Key");

  websocketpp::http::parser::response response;
  if (processor.process_handshake(parser, "", response)) return refuse(400, "invalid WebSocket handshake");

  HandshakeResult result;
  result.accepted = true;
  result.response.status = 101;
  result.response.content_type.clear();
  for (const auto& [name, value] : response.get_headers()) result.response.headers.emplace_back(name, value);
  return result;
}

}  // namespace chatd::protocol
