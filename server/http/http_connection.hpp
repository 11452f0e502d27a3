// A freshly accepted connection: the HTTP/1.1 request loop (keep-alive, pipelining, 100-continue, idle
// timeout). Each request goes to the route ServerContext::router finds for it (one file per route, see
// routes.hpp); an accepted WebSocket upgrade hands the socket to a WebSocketSession.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "server/http/server_context.hpp"

namespace chatd {

// Worker thread only: on the worker `socket` was accepted for, until the connection closes or upgrades.
asio::awaitable<void> serve_http(asio::ip::tcp::socket socket, Worker& worker, const ServerContext& context);

}  // namespace chatd
