// One message from an HTTP client: checks the body, the name and the room, takes a token from the
// publisher's address, and answers 202 with the id the room gave the message.
#include <chrono>
#include <string>
#include <string_view>

#include "protocol/chat_json.hpp"
#include "protocol/publish_body.hpp"
#include "server/core/use_nothrow_awaitable.hpp"
#include "server/http/errors.hpp"
#include "server/http/request_auth.hpp"
#include "server/http/request_rules.hpp"
#include "server/http/room_question.hpp"
#include "server/http/routes.hpp"

namespace chatd {

namespace {

// 429 with Retry-After in whole seconds (at least 1), or nullopt: a token was taken. The bucket is the
// user's when a token names one, else the address's (request_auth.hpp, limiter_key).
std::optional<protocol::HttpResponse> refuse_if_too_fast(const Request& request, const Identity& identity) {
  const auto wait =
      request.context.http_limiter.try_take(limiter_key(request, identity), TokenBucket::Clock::now());
  if (wait <= TokenBucket::Clock::duration::zero()) return std::nullopt;
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
  return error_response(HttpError::publishing_too_fast, std::to_string(std::max<long long>(1, seconds)));
}

}  // namespace

asio::awaitable<Outcome> publish_route(Request& request) {
  // A text/plain form POST needs no CORS preflight: without this check any page could publish as its
  // visitors (docs/security.md).
  if (!same_site_or_allowed(request))
    co_return respond_with(protocol::error_response(403, "Origin is not allowed to publish"));
  auto authorized = authorize(request);
  if (!authorized.identity) co_return respond_with(std::move(authorized.refusal));
  const Identity& identity = *authorized.identity;
  if (!identity.may_publish) co_return respond_with(error_response(HttpError::read_only));
  const auto& limits = request.context.config.limits;
  const auto too_large = [&] {
    return respond_with(
        error_response(HttpError::message_too_large, std::to_string(limits.max_message_size)));
  };
  if (request.http.body().size() > max_body_size(limits)) co_return too_large();
  auto parsed = protocol::parse_publish_body(request.http.header("Content-Type"), request.http.body());
  if (!parsed.body) co_return respond_with(protocol::error_response(parsed.status, parsed.error));
  auto& body = *parsed.body;
  if (body.text.size() > limits.max_message_size) co_return too_large();

  auto query = query_params(request.target.query, {"room", "name"});
  if (!query) co_return respond_with(error_response(HttpError::malformed_query));
  auto& [room_param, name_param] = *query;
  // A token's name is the only one it publishes under; a key (a bot, CI) and open mode choose their own.
  std::string name = !identity.chooses_name() ? identity.name
                     : body.name              ? std::move(*body.name)
                     : name_param.present     ? std::move(name_param.value)
                     : identity.name.empty()  ? "http"
                                              : identity.name;
  if (!is_valid_name(name)) co_return respond_with(protocol::error_response(400, invalid_name_message));
  const std::string room_name =
      body.room ? *body.room : room_or_default(room_param, request.context.config.rooms);
  if (auto refusal = refuse_room(identity, room_name)) co_return respond_with(std::move(*refusal));
  auto finding = request.context.rooms.find(room_name, room_creation_gate(request));
  auto lookup = co_await std::move(finding);
  if (!lookup.room) co_return respond_with(error_response(lookup.refusal));
  if (auto too_fast = refuse_if_too_fast(request, identity)) co_return respond_with(std::move(*too_fast));

  auto& reply = request.replies.publish;
  if (!reply) reply = std::make_shared<PublishReply>(request.socket.get_executor(), 1);
  PublishMessages publish{nullptr, std::move(name), {}, reply};
  publish.texts.push_back(std::move(body.text));
  RoomCommand command = std::move(publish);
  auto sending = lookup.room->send(std::move(command));
  if (!(co_await std::move(sending))) co_return respond_with(error_response(HttpError::room_shutting_down));
  auto [ec, id] = co_await reply->async_receive(use_nothrow_awaitable);
  if (ec) co_return respond_with(error_response(publish_failure(ec), std::to_string(id)));

  Outcome outcome;
  outcome.response.status = 202;
  outcome.response.content_type = "application/json";
  outcome.response.body = protocol::publish_ack_json(id, lookup.room->name());
  co_return outcome;
}

}  // namespace chatd
