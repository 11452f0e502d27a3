// The admin listener's operator routes (docs/api.md, admin listener): the live rooms, one room's sessions,
// and removing a user's or one session's connections without a restart. When auth.mode is not open they
// need an API key for every room, as `Authorization: Bearer KEY` (never in the URL: docs/security.md).
#include <string>
#include <vector>

#include "protocol/chat_json.hpp"
#include "server/core/use_nothrow_awaitable.hpp"
#include "server/http/errors.hpp"
#include "server/http/request_auth.hpp"
#include "server/http/request_rules.hpp"
#include "server/http/room_question.hpp"
#include "server/http/routes.hpp"

namespace chatd {

namespace {

// Whoever may see every room's sessions and end them: anyone on an open server (its admin port is meant to
// be private), otherwise only an API key that is not limited to some rooms.
std::optional<protocol::HttpResponse> refuse_non_admin(const Request& request) {
  if (request.context.config.auth.mode == config::Auth::Mode::open) return std::nullopt;
  auto authorized = authorize(request);
  if (!authorized.identity) return std::move(authorized.refusal);
  const Identity& identity = *authorized.identity;
  if (identity.kind != Identity::Kind::api_key) return error_response(HttpError::admin_key_required);
  if (identity.rooms) return error_response(HttpError::admin_key_limited, identity.name);
  return std::nullopt;
}

// The room's answer to `question` (made with query_reply(request)), or why there is none.
struct Answer {
  bool ok = false;
  std::string body;
  protocol::HttpResponse refusal;
};
asio::awaitable<Answer> ask(Request& request, Room& room, RoomCommand question) {
  Answer answer;
  auto sending = room.send(std::move(question));
  if (!(co_await std::move(sending))) {
    answer.refusal = error_response(HttpError::room_shutting_down);
    co_return answer;
  }
  auto [ec, body] = co_await request.replies.query->async_receive(use_nothrow_awaitable);
  if (ec) {
    answer.refusal = error_response(query_failure(ec));
    co_return answer;
  }
  answer.ok = true;
  answer.body = std::move(body);
  co_return answer;
}

Outcome json(std::string body) {
  Outcome outcome;
  outcome.response.content_type = "application/json";
  outcome.response.body = std::move(body);
  outcome.response.headers.emplace_back("Cache-Control", "no-store");
  return outcome;
}

}  // namespace

// GET /admin/rooms: {"rooms":[{"room":..,"epoch":..,"last_id":..,"subscribers":..}, ...]}, by name.
asio::awaitable<Outcome> admin_rooms_route(Request& request) {
  if (auto refusal = refuse_non_admin(request)) co_return respond_with(std::move(*refusal));
  std::string body = "{\"rooms\":[";
  bool first = true;
  for (const auto& room : request.context.rooms.live_rooms()) {
    AdminQuery summary{false, query_reply(request)};
    auto asking = ask(request, *room, std::move(summary));
    Answer answer = co_await std::move(asking);
    if (!answer.ok) continue;  // gone while we asked: reclaimed, or the server is stopping
    if (!first) body.push_back(',');
    first = false;
    body += answer.body;
  }
  body += "]}\n";
  co_return json(std::move(body));
}

// GET /admin/sessions?room=R: the room's summary with every connection in it.
asio::awaitable<Outcome> admin_sessions_route(Request& request) {
  auto query = query_params(request.target.query, {"room"});
  if (!query) co_return respond_with(error_response(HttpError::malformed_query));
  if (auto refusal = refuse_non_admin(request)) co_return respond_with(std::move(*refusal));
  if (!(*query)[0].present)
    co_return respond_with(error_response(HttpError::admin_bad_target, "room= is required"));
  const std::string room_name = (*query)[0].value;
  auto finding = request.context.rooms.find_existing(room_name);
  auto lookup = co_await std::move(finding);
  if (!lookup.room) co_return respond_with(error_response(lookup.refusal));
  AdminQuery sessions{true, query_reply(request)};
  auto asking = ask(request, *lookup.room, std::move(sessions));
  Answer answer = co_await std::move(asking);
  if (!answer.ok) co_return respond_with(std::move(answer.refusal));
  co_return json(std::move(answer.body) + "\n");
}

// POST /admin/disconnect?name=N or ?session=ID, optionally &room=R: closes those connections with 4004
// (what was queued for them goes first) and answers {"disconnected":K}.
asio::awaitable<Outcome> admin_disconnect_route(Request& request) {
  auto query = query_params(request.target.query, {"name", "session", "room"});
  if (!query) co_return respond_with(error_response(HttpError::malformed_query));
  if (auto refusal = refuse_non_admin(request)) co_return respond_with(std::move(*refusal));
  const auto& name = (*query)[0];
  const auto& session = (*query)[1];
  if (name.present == session.present)
    co_return respond_with(error_response(HttpError::admin_bad_target, "give one of name= and session="));
  std::uint64_t session_id = 0;
  if (session.present) {
    const auto parsed = protocol::parse_session_id(session.value);
    if (!parsed)
      co_return respond_with(error_response(
          HttpError::admin_bad_target, "session= is a session id from GET /admin/sessions (16 hex digits)"));
    session_id = *parsed;
  } else if (name.value.empty()) {
    co_return respond_with(error_response(HttpError::admin_bad_target, "name= is empty"));
  }
  std::vector<std::shared_ptr<Room>> rooms;
  if ((*query)[2].present) {
    auto finding = request.context.rooms.find_existing((*query)[2].value);
    auto lookup = co_await std::move(finding);
    if (!lookup.room) co_return respond_with(error_response(lookup.refusal));
    rooms.push_back(std::move(lookup.room));
  } else {
    rooms = request.context.rooms.live_rooms();
  }
  std::uint64_t disconnected = 0;
  for (const auto& room : rooms) {
    AdminDisconnect removing{session.present ? std::string() : name.value, session_id, query_reply(request)};
    auto asking = ask(request, *room, std::move(removing));
    Answer answer = co_await std::move(asking);
    if (answer.ok) disconnected += std::stoull(answer.body);
  }
  co_return json("{\"disconnected\":" + std::to_string(disconnected) + "}\n");
}

}  // namespace chatd
