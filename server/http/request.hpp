// What a route's handler gets for one request: the parsed request, its target split into path and query,
// who sent it, the connection's socket and reusable reply channels, the worker and the shared services.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <asio/ip/tcp.hpp>

#include "protocol/http_request.hpp"
#include "protocol/uri.hpp"
#include "server/http/server_context.hpp"
#include "server/rooms/room_command.hpp"

namespace chatd {

class Worker;
struct Route;

// The channels a room answers a connection on, made on the connection's first publish or question and
// reused by its keep-alive requests. Worker thread only (the connection's).
struct ReplyChannels {
  std::shared_ptr<PublishReply> publish;
  std::shared_ptr<QueryReply> query;
};

// Worker thread only: it lives in the connection's coroutine for as long as the request is handled.
struct Request {
  const protocol::HttpRequestReader& http;
  protocol::Target target;        // target.path still percent-encoded; target.query without the '?'
  std::string_view leftover;      // bytes read after this request: a WebSocket's first frames
  const std::string& peer;        // address:port, for logs
  const std::string& address;     // the HTTP limiter's key
  asio::ip::tcp::socket& socket;  // subscribe moves it into the WebSocket session
  ReplyChannels& replies;
  Worker& worker;
  const ServerContext& context;
  const Route& route;  // the row of the route table that matched
};

}  // namespace chatd
