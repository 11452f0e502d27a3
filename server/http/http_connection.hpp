// A freshly accepted connection: the HTTP/1.1 request loop (keep-alive, pipelining, 100-continue, idle
// timeout). Each request goes to the route ServerContext::router finds for it (one file per route, see
// routes.hpp); an accepted WebSocket upgrade hands the socket to a WebSocketSession.
#pragma once

#include <memory>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "server/http/server_context.hpp"

namespace chatd {

// Worker thread only: on the worker `socket` was accepted for, until the connection closes or upgrades.
// `connection_slot` is held for the connection's whole life, HTTP then WebSocket (the app's place under
// limits.max_connections): released when this coroutine ends, or handed to the WebSocket session it
// upgrades to.
asio::awaitable<void> serve_http(asio::ip::tcp::socket socket, Worker& worker, const ServerContext& context,
                                 std::shared_ptr<void> connection_slot = {});

}  // namespace chatd
