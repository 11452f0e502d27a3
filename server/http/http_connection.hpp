// A freshly accepted connection: reads HTTP/1.1 requests (keep-alive, pipelining) and routes them.
// An accepted WebSocket upgrade hands the socket to a WebSocketSession.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "server/http/server_context.hpp"

namespace chatd {

asio::awaitable<void> serve_http(asio::ip::tcp::socket socket, Worker& worker, const ServerContext& context);

}  // namespace chatd
