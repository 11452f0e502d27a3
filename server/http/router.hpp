// The route table, built once at start-up from config.routes: each config::route_keys key at its configured
// path, with the methods and handler its RouteBinding gives. Exact paths are matched first, prefix routes
// (static) last; a path no route serves is 404, a method a route does not allow is 405 with the route's
// methods as Allow (errors.hpp has both answers).
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "protocol/http_response.hpp"
#include "server/http/route.hpp"
#include "server/http/routes.hpp"

namespace chatd {

class Router {
 public:
  // Start-up only. Throws std::invalid_argument when a key has no binding or two routes share a path.
  explicit Router(const config::Routes& paths, std::span<const RouteBinding> bindings = route_bindings);
  // Start-up only: the admin listener's table, admin_routes at their fixed paths.
  static Router admin();

  // Any thread (the table is read-only after start-up): the exact route of `path`, else the longest prefix
  // route it falls under, else nullptr: answer 404.
  const Route* find(std::string_view path) const;

  // Any thread. The route to run for `method` on `path`, or nullptr with `refusal` set from the table: 404
  // when no route serves the path, 405 with the route's methods as Allow when the route does not allow the
  // method and the router is the one to check it (MethodCheck::router).
  const Route* route(std::string_view path, std::string_view method, protocol::HttpResponse& refusal) const;

 private:
  Router() = default;
  void add(Route route);  // throws std::invalid_argument when its path is taken
  void sort_prefixes();

  std::vector<Route> exact_;
  std::vector<Route> prefixed_;  // longest first
};

}  // namespace chatd
