// A page of a room's events: the newest `limit`, or those before `before` (docs/api.md, history).
#include <algorithm>
#include <limits>

#include "server/http/errors.hpp"
#include "server/http/request_rules.hpp"
#include "server/http/room_question.hpp"
#include "server/http/routes.hpp"

namespace chatd {

namespace {

constexpr std::size_t default_history_limit = 100;
constexpr std::size_t max_history_limit = 1000;

}  // namespace

asio::awaitable<Outcome> history_route(Request& request) {
  auto query = query_params(request.target.query, {"room", "limit", "before"});
  if (!query) co_return respond_with(error_response(HttpError::malformed_query));
  const auto& [room, limit_param, before_param] = *query;
  HistoryQuery page{0, default_history_limit, nullptr};
  if (limit_param.present) {
    const auto limit = parse_id(limit_param.value);
    if (!limit || *limit == 0) {
      co_return respond_with(
          protocol::error_response(400, "limit must be a whole number from 1 to " +
                                            std::to_string(std::numeric_limits<std::uint64_t>::max()) +
                                            " (above " + std::to_string(max_history_limit) + " counts as " +
                                            std::to_string(max_history_limit) + ")"));
    }
    page.limit = static_cast<std::size_t>(std::min<std::uint64_t>(*limit, max_history_limit));
  }
  if (before_param.present) {
    const auto before = parse_id(before_param.value);
    if (!before || *before == 0)
      co_return respond_with(protocol::error_response(400, "before must be an event id (from 1)"));
    page.before = *before;
  }
  page.answer = query_reply(request);
  // A page's body stays under the byte bound of a subscriber's queue: 1,000 large events would otherwise
  // be tens of MiB held for one client (issue 10). The page then holds fewer than `limit` events.
  page.max_bytes = request.context.config.subscriber.queue_bytes;
  auto asking = ask_room(request, room, std::move(page));
  co_return co_await std::move(asking);
}

}  // namespace chatd
