// Who is in a room: the room answers with its presence list (protocol/chat_json).
#include "server/http/errors.hpp"
#include "server/http/request_rules.hpp"
#include "server/http/room_question.hpp"
#include "server/http/routes.hpp"

namespace chatd {

asio::awaitable<Outcome> presence_route(Request& request) {
  // limit= and before= mean nothing here, but a malformed escape in them is refused as on /history: the two
  // routes have always read the same parameters.
  auto query = query_params(request.target.query, {"room", "limit", "before"});
  if (!query) co_return respond_with(error_response(HttpError::malformed_query));
  PresenceQuery question{query_reply(request)};
  auto asking = ask_room(request, (*query)[0], std::move(question));
  co_return co_await std::move(asking);
}

}  // namespace chatd
