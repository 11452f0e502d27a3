#include "server/http/room_question.hpp"

#include "server/core/use_nothrow_awaitable.hpp"
#include "server/http/errors.hpp"
#include "server/http/request_auth.hpp"
#include "server/http/request_rules.hpp"

namespace chatd {

RoomRegistry::CreationGate room_creation_gate(const Request& request) {
  // Two references: small enough for std::function to keep without allocating.
  return [&limiter = request.context.room_creation_limiter, &address = request.address] {
    return limiter.try_take(address, TokenBucket::Clock::now());
  };
}

const std::shared_ptr<QueryReply>& query_reply(Request& request) {
  auto& reply = request.replies.query;
  if (!reply) reply = std::make_shared<QueryReply>(request.socket.get_executor(), 1);
  return reply;
}

asio::awaitable<Outcome> ask_room(Request& request, const protocol::QueryValue& room, RoomCommand question) {
  auto authorized = authorize(request);
  if (!authorized.identity) co_return respond_with(std::move(authorized.refusal));
  const std::string room_name = room_or_default(room, request.context.config.rooms);
  if (auto refusal = refuse_room(*authorized.identity, room_name))
    co_return respond_with(std::move(*refusal));
  auto finding = request.context.rooms.find_existing(room_name, room_creation_gate(request));
  auto lookup = co_await std::move(finding);
  if (!lookup.room) co_return respond_with(error_response(lookup.refusal));
  auto sending = lookup.room->send(std::move(question));
  if (!(co_await std::move(sending))) co_return respond_with(error_response(HttpError::room_shutting_down));
  auto [ec, body] = co_await request.replies.query->async_receive(use_nothrow_awaitable);
  if (ec) co_return respond_with(error_response(query_failure(ec)));
  Outcome outcome;
  outcome.response.content_type = "application/json";
  outcome.response.body = std::move(body);
  outcome.response.headers.emplace_back("Cache-Control", "no-store");
  co_return outcome;
}

}  // namespace chatd
