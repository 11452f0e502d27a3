// Every route chatd serves, one handler per file (subscribe_route.cpp, publish_route.cpp, ...), and the
// table that binds each config::route_keys key to its methods and handler. A new route is its own file,
// one declaration and one row here (and its key in config/config.hpp; the static_assert below holds the
// two tables together).
#pragma once

#include <asio/awaitable.hpp>

#include "config/config.hpp"
#include "server/http/outcome.hpp"
#include "server/http/request.hpp"
#include "server/http/route.hpp"

namespace chatd {

// Worker thread only (the connection's), like every handler.
asio::awaitable<Outcome> subscribe_route(Request& request);  // WebSocket upgrade
asio::awaitable<Outcome> events_route(Request& request);     // a room as Server-Sent Events
asio::awaitable<Outcome> publish_route(Request& request);    // one message, from an HTTP client
asio::awaitable<Outcome> presence_route(Request& request);   // who is in a room
asio::awaitable<Outcome> history_route(Request& request);    // a page of a room's events
asio::awaitable<Outcome> login_route(Request& request);      // a session token; who you are
asio::awaitable<Outcome> logout_route(Request& request);     // ends a session
asio::awaitable<Outcome> health_route(Request& request);     // workers turning, rooms running
asio::awaitable<Outcome> static_route(Request& request);     // files under static.root
// The admin listener's (admin.listen), at fixed paths: admin_routes below.
asio::awaitable<Outcome> metrics_route(Request& request);           // the counters, Prometheus text format
asio::awaitable<Outcome> readyz_route(Request& request);            // whether this node can serve
asio::awaitable<Outcome> admin_rooms_route(Request& request);       // the live rooms
asio::awaitable<Outcome> admin_sessions_route(Request& request);    // one room's connections
asio::awaitable<Outcome> admin_disconnect_route(Request& request);  // removes a user's or one session

// Any thread: what keeps this node from serving (a stalled worker, a stopped room), one line each; "" when
// nothing does. /healthz and /readyz both answer from it.
std::string node_problems(const ServerContext& context);

// Subscribe has no method check of its own: the WebSocket handshake check answers (426 for a request that
// is not an upgrade).
inline constexpr RouteBinding route_bindings[] = {
    {"subscribe", "", MethodCheck::router, subscribe_route},
    {"events", "GET", MethodCheck::router, events_route},
    {"publish", "POST", MethodCheck::router, publish_route},
    {"health", "GET, HEAD", MethodCheck::router, health_route},
    {"presence", "GET, HEAD", MethodCheck::router, presence_route},
    {"history", "GET, HEAD", MethodCheck::router, history_route},
    {"login", "GET, HEAD, POST", MethodCheck::router, login_route},
    {"logout", "POST", MethodCheck::router, logout_route},
    {"static", "GET, HEAD", MethodCheck::handler, static_route},
};

// The admin listener's table: not configurable, so that dashboards and probes find the same paths on every
// node (docs/api.md, admin).
struct AdminRoute {
  std::string_view path;
  RouteBinding binding;
};
inline constexpr AdminRoute admin_routes[] = {
    {"/metrics", {"metrics", "GET, HEAD", MethodCheck::router, metrics_route}},
    {"/readyz", {"readyz", "GET, HEAD", MethodCheck::router, readyz_route}},
    {"/admin/rooms", {"admin_rooms", "GET, HEAD", MethodCheck::router, admin_rooms_route}},
    {"/admin/sessions", {"admin_sessions", "GET, HEAD", MethodCheck::router, admin_sessions_route}},
    {"/admin/disconnect", {"admin_disconnect", "POST", MethodCheck::router, admin_disconnect_route}},
};

// Every key the config reads has a handler, and every handler a key.
constexpr bool every_route_key_bound() {
  if (std::size(route_bindings) != std::size(config::route_keys)) return false;
  for (const auto& key : config::route_keys) {
    bool bound = false;
    for (const auto& binding : route_bindings) bound = bound || binding.key == key.key;
    if (!bound) return false;
  }
  return true;
}
static_assert(every_route_key_bound(), "config::route_keys and route_bindings must list the same keys");

}  // namespace chatd
