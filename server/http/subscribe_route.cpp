// The WebSocket upgrade: checks the handshake, the Origin and the query, finds the room, and hands the
// socket to a WebSocketSession (serve_http starts it once this connection is gone).
#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <random>

#include "protocol/websocket_handshake.hpp"
#include "server/http/errors.hpp"
#include "server/http/request_auth.hpp"
#include "server/http/request_rules.hpp"
#include "server/http/room_question.hpp"
#include "server/http/routes.hpp"
#include "server/metrics/metrics.hpp"
#include "server/rooms/event_format.hpp"
#include "server/transport/websocket_session.hpp"

namespace chatd {

namespace {

std::string guest_name() {
  thread_local std::mt19937 random{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string name = "guest-";
  for (int i = 0; i < 4; ++i) name.push_back(hex[random() % 16]);
  return name;
}

bool origin_allowed(const config::Subscriber& settings, const std::string& origin) {
  const auto& allowed = settings.allowed_origins;
  return allowed.empty() || origin.empty() ||
         std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
}

// room, name, format, presence, since, epoch, token
using SubscribeQuery = std::array<protocol::QueryValue, 7>;

// The session's options from the query: nullopt with `refusal` set when a parameter is wrong.
std::optional<WebSocketSession::Options> read_options(SubscribeQuery& query,
                                                      protocol::HttpResponse& refusal) {
  auto& [room, name, format, presence, since, epoch, token] = query;
  WebSocketSession::Options options;
  const auto named_format = event_format_named(format.present ? format.value : "json");
  if (!named_format) {
    refusal = protocol::error_response(400, "format must be " + event_format_names());
    return std::nullopt;
  }
  options.format = *named_format;
  if (presence.present && presence.value != "true" && presence.value != "false") {
    refusal = protocol::error_response(400, "presence must be true or false");
    return std::nullopt;
  }
  options.presence_events = presence.value == "true";
  if (since.present) {
    options.since = parse_id(since.value);
    if (!options.since) {
      refusal = protocol::error_response(400, "since must be an event id (a whole number)");
      return std::nullopt;
    }
    options.epoch = std::move(epoch.value);
  } else if (epoch.present) {
    refusal = protocol::error_response(400, "epoch is given only with since");
    return std::nullopt;
  }
  if (name.present && !is_valid_name(name.value)) {
    refusal = protocol::error_response(400, invalid_name_message);
    return std::nullopt;
  }
  options.name = name.present ? std::move(name.value) : guest_name();
  return options;
}

// The upgrade, or the HTTP error that refuses it.
asio::awaitable<Outcome> upgrade(Request& request) {
  Outcome outcome;
  auto handshake = protocol::accept_websocket(request.http);
  if (!handshake.accepted) {
    outcome.response = std::move(handshake.response);
    co_return outcome;
  }
  // After the handshake is known good, so only real upgrades spend a token; before the room lookup and
  // the session, the costly part an upgrade storm would repeat.
  const auto wait = request.context.handshake_limiter.try_take(request.address, TokenBucket::Clock::now());
  if (wait > TokenBucket::Clock::duration::zero()) {
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
    outcome.response =
        error_response(HttpError::upgrading_too_fast, std::to_string(std::max<long long>(1, seconds)));
    co_return outcome;
  }
  const std::string& origin = request.http.header("Origin");
  if (!origin_allowed(request.context.config.subscriber, origin)) {
    outcome.response = protocol::error_response(403, "Origin \"" + origin + "\" is not allowed");
    co_return outcome;
  }
  auto query =
      query_params(request.target.query, {"room", "name", "format", "presence", "since", "epoch", "token"});
  if (!query) {
    outcome.response = error_response(HttpError::malformed_query);
    co_return outcome;
  }
  // Before the options: a client that may not connect learns nothing else about its request.
  auto authorized = authorize(request, (*query)[6].value);
  if (!authorized.identity) {
    outcome.response = std::move(authorized.refusal);
    co_return outcome;
  }
  Identity& identity = *authorized.identity;
  auto options = read_options(*query, outcome.response);
  if (!options) co_return outcome;
  // The token names the user; ?name= counts only where the request chooses its name (open mode, keys).
  if (!identity.chooses_name()) options->name = identity.name;

  const std::string room_name = room_or_default((*query)[0], request.context.config.rooms);
  if (auto refusal = refuse_room(identity, room_name)) {
    outcome.response = std::move(*refusal);
    co_return outcome;
  }
  auto finding = request.context.rooms.find(room_name, room_creation_gate(request));
  auto lookup = co_await std::move(finding);
  if (!lookup.room) {
    outcome.response = error_response(lookup.refusal);
    co_return outcome;
  }
  options->room = std::move(lookup.room);
  options->peer = request.peer;
  options->initial_bytes = std::string(request.leftover);
  outcome.handshake_response = protocol::serialize(handshake.response);
  if (identity.expires_at) {
    // The session's clock is steady_clock (ticks); exp is wall-clock time. Capped at a century, so that a
    // token that never expires (exp at the clock's end) cannot overflow it. A JWT lives as long as it would
    // still be accepted, exp + leeway (JwtVerifier::verify): closing it at exp would close at once a token
    // the leeway let in, and its client would loop reconnecting.
    auto left = std::min<std::chrono::system_clock::duration>(
        *identity.expires_at - std::chrono::system_clock::now(), std::chrono::hours(24 * 365 * 100));
    if (identity.kind == Identity::Kind::jwt) left += request.context.config.auth.jwt.leeway;
    options->expires_at = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
  }
  options->read_only = !identity.may_publish;
  auto session = std::make_shared<WebSocketSession>(std::move(request.socket), request.worker,
                                                    request.context.config, std::move(*options));
  if (identity.kind == Identity::Kind::session) {
    // From now on a logout closes this session. One that came between the check above and here has
    // missed it: the session then says so as soon as it is open (the socket is the session's already).
    if (!session->watch_session(request.context.auth.sessions(), identity.session_sha256))
      session->close(disconnect::logged_out, true);
  }
  outcome.upgrade = std::move(session);
  co_return outcome;
}

}  // namespace

asio::awaitable<Outcome> subscribe_route(Request& request) {
  auto upgrading = upgrade(request);
  Outcome outcome = co_await std::move(upgrading);
  metrics::add(outcome.upgrade ? metrics::Series::websocket_sessions_opened
                               : metrics::handshake_rejection_series(outcome.response.status));
  co_return outcome;
}

}  // namespace chatd
