// One message from an HTTP client: checks the body, the name and the room, takes a token from the
// publisher's address, and answers 202 with the id the room gave the message.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <string_view>

#include "protocol/chat_json.hpp"
#include "protocol/publish_body.hpp"
#include "server/core/use_nothrow_awaitable.hpp"
#include "server/http/errors.hpp"
#include "server/http/request_rules.hpp"
#include "server/http/room_question.hpp"
#include "server/http/routes.hpp"

namespace chatd {

namespace {

// 429 with Retry-After in whole seconds (at least 1), or nullopt: a token was taken.
std::optional<protocol::HttpResponse> refuse_if_too_fast(const Request& request) {
  const auto wait = request.context.http_limiter.try_take(request.address, TokenBucket::Clock::now());
  if (wait <= TokenBucket::Clock::duration::zero()) return std::nullopt;
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
  return error_response(HttpError::publishing_too_fast, std::to_string(std::max<long long>(1, seconds)));
}

// A browser sends Origin on every cross-site POST (Fetch standard), and a text/plain form POST needs no
// CORS preflight: without this check any page could publish as its visitors. Allowed: no Origin (curl, a
// script), an Origin listed in subscriber.allowed_origins, or, when that list is empty, an Origin naming the
// same host:port as the request's Host (the built-in chat page). Anything else is 403, as the WebSocket
// upgrade answers a listed-origins mismatch (docs/security.md).
bool publish_origin_allowed(const Request& request) {
  const std::string& origin = request.http.header("Origin");
  if (origin.empty()) return true;
  const auto& allowed = request.context.config.subscriber.allowed_origins;
  if (!allowed.empty()) return std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
  // "scheme://host[:port]": the part after "://" must be the Host header exactly (case aside). A default
  // port left out by one side and written by the other is refused: browsers omit it, and so does Host.
  const auto scheme_end = origin.find("://");
  if (scheme_end == std::string::npos) return false;
  const std::string_view authority = std::string_view(origin).substr(scheme_end + 3);
  const std::string& host = request.http.header("Host");
  return authority.size() == host.size() &&
         std::equal(authority.begin(), authority.end(), host.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

}  // namespace

asio::awaitable<Outcome> publish_route(Request& request) {
  if (!publish_origin_allowed(request))
    co_return respond_with(protocol::error_response(403, "Origin is not allowed to publish"));
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
  std::string name = body.name            ? std::move(*body.name)
                     : name_param.present ? std::move(name_param.value)
                                          : "http";
  if (!is_valid_name(name)) co_return respond_with(protocol::error_response(400, invalid_name_message));
  auto finding = request.context.rooms.find(
      body.room ? *body.room : room_or_default(room_param, request.context.config.rooms),
      room_creation_gate(request));
  auto lookup = co_await std::move(finding);
  if (!lookup.room) co_return respond_with(error_response(lookup.refusal));
  if (auto too_fast = refuse_if_too_fast(request)) co_return respond_with(std::move(*too_fast));

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
