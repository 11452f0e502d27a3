// One row of the route table: which config::route_keys key it serves, the methods it allows, who checks
// them, and the handler. Router binds each row to the path config gives its key.
#pragma once

#include <string>
#include <string_view>

#include <asio/awaitable.hpp>

#include "server/http/outcome.hpp"
#include "server/http/request.hpp"

namespace chatd {

// Worker thread only (the connection's).
using RouteHandler = asio::awaitable<Outcome> (*)(Request&);

enum class MethodCheck {
  router,   // the router answers 405 before the handler runs
  handler,  // the handler decides when (static: a missing file is 404 whatever the method)
};

struct RouteBinding {
  std::string_view key;      // a config::route_keys key
  std::string_view methods;  // as the Allow header lists them, "GET, HEAD"; "" = any (the handler answers)
  MethodCheck check;
  RouteHandler handler;
};

// A bound row: read-only after start-up, so any thread may read it.
struct Route {
  RouteBinding binding;
  std::string path;  // from config.routes
  bool prefix;       // serves every path under `path` that no exact route serves

  bool allows(std::string_view method) const;
};

}  // namespace chatd
