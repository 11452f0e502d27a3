// server/http/router: the route table from config.routes: exact paths first, the static prefix last, 404
// and 405 with Allow from the table, and a table that cannot be built.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "server/http/router.hpp"

using namespace chatd;

namespace {

std::string key_of(const Route* route) {
  return route ? std::string(route->binding.key) : "<none>";
}

std::string allow_of(const protocol::HttpResponse& response) {
  for (const auto& [name, value] : response.headers) {
    if (name == "Allow") return value;
  }
  return "<none>";
}

}  // namespace

TEST_CASE("router: every configured key at its path; exact paths before the static prefix") {
  const Router router{config::Routes{}};
  CHECK(key_of(router.find("/subscribe")) == "subscribe");
  CHECK(key_of(router.find("/publish")) == "publish");
  CHECK(key_of(router.find("/healthz")) == "health");
  CHECK(key_of(router.find("/presence")) == "presence");
  CHECK(key_of(router.find("/history")) == "history");
  // Everything else falls under routes.static "/", which answers 404 itself for a missing file.
  CHECK(key_of(router.find("/")) == "static");
  CHECK(key_of(router.find("/index.html")) == "static");
  CHECK(key_of(router.find("/publish/x")) == "static");
  CHECK(key_of(router.find("/publishx")) == "static");
  CHECK(router.find("/publish")->path == "/publish");
  CHECK_FALSE(router.find("/publish")->prefix);
  CHECK(router.find("/")->prefix);
}

TEST_CASE("router: configured paths; outside the static prefix is 404 from the table") {
  config::Routes routes;
  routes.publish = "/api/publish";
  routes.static_files = "/files/";
  const Router router{routes};
  CHECK(key_of(router.find("/api/publish")) == "publish");
  CHECK(router.find("/publish") == nullptr);
  CHECK(key_of(router.find("/files/app.js")) == "static");
  CHECK(key_of(router.find("/files")) == "static");  // as StaticFiles reads it: "/files" is "/files/"
  CHECK(router.find("/filesx") == nullptr);
  CHECK(router.find("*") == nullptr);

  protocol::HttpResponse refusal;
  CHECK(router.route("/nothing", "GET", refusal) == nullptr);
  CHECK(refusal.status == 404);
  CHECK(refusal.body == "{\"error\":\"not found\"}\n");
  CHECK(allow_of(refusal) == "<none>");

  config::Routes no_slash;
  no_slash.static_files = "/files";
  CHECK(key_of(Router{no_slash}.find("/files/app.js")) == "static");
  CHECK(key_of(Router{no_slash}.find("/files")) == "static");
}

TEST_CASE("router: 405 and Allow from the table; subscribe and static check their methods themselves") {
  const Router router{config::Routes{}};
  protocol::HttpResponse refusal;
  CHECK(router.route("/publish", "GET", refusal) == nullptr);
  CHECK(refusal.status == 405);
  CHECK(refusal.body == "{\"error\":\"method not allowed\"}\n");
  CHECK(allow_of(refusal) == "POST");
  for (const char* path : {"/presence", "/history", "/healthz"}) {
    protocol::HttpResponse refused;
    CHECK(router.route(path, "POST", refused) == nullptr);
    CHECK(refused.status == 405);
    CHECK(allow_of(refused) == "GET, HEAD");
    protocol::HttpResponse untouched;
    CHECK(key_of(router.route(path, "GET", untouched)) != "<none>");
    CHECK(key_of(router.route(path, "HEAD", untouched)) != "<none>");
    CHECK(untouched.status == 200);
  }
  protocol::HttpResponse untouched;
  CHECK(key_of(router.route("/publish", "POST", untouched)) == "publish");
  // The WebSocket handshake check answers a POST to /subscribe; a missing file is 404 whatever the method.
  CHECK(key_of(router.route("/subscribe", "POST", untouched)) == "subscribe");
  CHECK(key_of(router.route("/index.html", "POST", untouched)) == "static");
  CHECK(untouched.status == 200);
  CHECK(router.find("/index.html")->binding.check == MethodCheck::handler);
  CHECK(router.find("/index.html")->binding.methods == "GET, HEAD");
}

TEST_CASE("route: a method is allowed only as a whole entry of the list") {
  const Route route{RouteBinding{"history", "GET, HEAD", MethodCheck::router, history_route}, "/h", false};
  CHECK(route.allows("GET"));
  CHECK(route.allows("HEAD"));
  CHECK_FALSE(route.allows("POST"));
  CHECK_FALSE(route.allows("GE"));
  CHECK_FALSE(route.allows("GET, HEAD"));
  CHECK_FALSE(route.allows(""));
  const Route any{RouteBinding{"subscribe", "", MethodCheck::router, subscribe_route}, "/s", false};
  CHECK(any.allows("DELETE"));
}

TEST_CASE("router: two routes on one path, or a key without a handler, cannot be built") {
  config::Routes shared;
  shared.history = shared.publish;
  CHECK_THROWS_AS(Router{shared}, std::invalid_argument);
  config::Routes static_on_exact;
  static_on_exact.static_files = "/healthz";
  CHECK_THROWS_AS(Router{static_on_exact}, std::invalid_argument);

  const RouteBinding without_static[] = {{"subscribe", "", MethodCheck::router, subscribe_route},
                                         {"publish", "POST", MethodCheck::router, publish_route},
                                         {"health", "GET, HEAD", MethodCheck::router, health_route},
                                         {"presence", "GET, HEAD", MethodCheck::router, presence_route},
                                         {"history", "GET, HEAD", MethodCheck::router, history_route}};
  CHECK_THROWS_AS(Router(config::Routes{}, without_static), std::invalid_argument);
  CHECK_NOTHROW(Router(config::Routes{}, route_bindings));
}

TEST_CASE("router: the admin listener's table serves /metrics and /readyz only, GET and HEAD") {
  const Router admin = Router::admin();
  protocol::HttpResponse refusal;
  const Route* metrics = admin.route("/metrics", "GET", refusal);
  REQUIRE(metrics != nullptr);
  CHECK(metrics->binding.key == "metrics");
  const Route* ready = admin.route("/readyz", "HEAD", refusal);
  REQUIRE(ready != nullptr);
  CHECK(ready->binding.key == "readyz");
  CHECK(admin.route("/metrics", "POST", refusal) == nullptr);
  CHECK(refusal.status == 405);
  // Nothing of the public table: no page, no publishing.
  CHECK(admin.route("/publish", "POST", refusal) == nullptr);
  CHECK(refusal.status == 404);
  CHECK(admin.route("/", "GET", refusal) == nullptr);
  CHECK(refusal.status == 404);
}
