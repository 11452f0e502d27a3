// GET /readyz on the admin listener: 200 "ready" when this node can serve, else 503 with one line per
// reason. Unlike /healthz (alive: keep the process), a node that lost Redis is not ready (send traffic
// elsewhere): its publishes would wait and fail.
#include "server/http/routes.hpp"

namespace chatd {

asio::awaitable<Outcome> readyz_route(Request& request) {
  const auto& context = request.context;
  std::string problems = node_problems(context);
  if (context.levels) {
    if (const auto store = context.levels().history_failure; !store.empty())
      problems += "history: " + store + "\n";
  }
  if (context.degraded) problems += context.degraded();
  Outcome outcome;
  outcome.response.status = problems.empty() ? 200 : 503;
  outcome.response.body = problems.empty() ? "ready" : std::move(problems);
  outcome.response.headers.emplace_back("Cache-Control", "no-store");
  co_return outcome;
}

}  // namespace chatd
