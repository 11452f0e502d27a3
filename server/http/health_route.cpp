// "ok" only if every worker is turning its event loop and every room's actor is running; otherwise 503
// with one line per problem. A node that lost Redis (cluster.engine redis) answers 200 "degraded" and why.
#include <chrono>
#include <string>

#include "server/http/routes.hpp"

namespace chatd {

namespace {

// A worker that has not run its keepalive tick (every 250 ms at most) for this long is blocked or gone.
constexpr auto worker_stall_limit = std::chrono::seconds(5);

}  // namespace

std::string node_problems(const ServerContext& context) {
  std::string problems;
  for (const auto index :
       context.workers.stalled_since(std::chrono::steady_clock::now() - worker_stall_limit)) {
    problems += "worker " + std::to_string(index) + ": its event loop has not run for over " +
                std::to_string(worker_stall_limit.count()) + " s\n";
  }
  for (const auto& room : context.rooms.stopped_rooms()) problems += "room " + room + ": stopped\n";
  return problems;
}

asio::awaitable<Outcome> health_route(Request& request) {
  const auto& context = request.context;
  std::string problems = node_problems(context);
  Outcome outcome;
  if (!problems.empty()) outcome.response.status = 503;
  // Degraded is still 200: the node serves subscribers, history and its page; publishing waits for Redis.
  const std::string degraded = context.degraded ? context.degraded() : std::string();
  if (problems.empty() && !degraded.empty()) problems = "degraded\n" + degraded;
  outcome.response.body = problems.empty() ? "ok" : std::move(problems);
  outcome.response.headers.emplace_back("Cache-Control", "no-store");
  co_return outcome;
}

}  // namespace chatd
