// The websocketpp configuration chatd compiles its protocol code against.
// websocketpp's own config/core.hpp does not build as C++20 under g++ 12 (its logger), and we use none of
// its transport or endpoint: only the HTTP parser, frame helpers and the hybi13 processor.
#pragma once

#include <websocketpp/extensions/permessage_deflate/disabled.hpp>
#include <websocketpp/http/request.hpp>
#include <websocketpp/http/response.hpp>
#include <websocketpp/message_buffer/alloc.hpp>
#include <websocketpp/message_buffer/message.hpp>
#include <websocketpp/random/none.hpp>

namespace chatd::protocol {

struct WebsocketConfig {
  using request_type = websocketpp::http::parser::request;
  using response_type = websocketpp::http::parser::response;
  using message_type =
      websocketpp::message_buffer::message<websocketpp::message_buffer::alloc::con_msg_manager>;
  using con_msg_manager_type = websocketpp::message_buffer::alloc::con_msg_manager<message_type>;
  // Servers never mask, so the processor never draws a random number.
  using rng_type = websocketpp::random::none::int_generator<uint32_t>;

  static const size_t max_message_size = 64 * 1024;  // overridden per connection from limits.max_message_size
  static const bool enable_extensions = false;

  struct permessage_deflate_config {
    using request_type = WebsocketConfig::request_type;
    static const bool allow_disabling_context_takeover = true;
    static const uint8_t minimum_outgoing_window_bits = 8;
  };
  using permessage_deflate_type =
      websocketpp::extensions::permessage_deflate::disabled<permessage_deflate_config>;
};

}  // namespace chatd::protocol
