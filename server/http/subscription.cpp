#include "server/http/subscription.hpp"

#include <algorithm>
#include <array>
#include <random>

#include <unistd.h>

#include "protocol/event_stream.hpp"
#include "server/http/errors.hpp"
#include "server/http/request_auth.hpp"
#include "server/http/request_rules.hpp"
#include "server/http/room_question.hpp"

namespace chatd {

namespace {

std::string guest_name() {
  thread_local std::mt19937 random{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string name = "guest-";
  for (int i = 0; i < 4; ++i) name.push_back(hex[random() % 16]);
  return name;
}

bool origin_listed(const config::Subscriber& settings, const std::string& origin) {
  const auto& allowed = settings.allowed_origins;
  return std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
}

// room, name, format, presence, since, epoch, token
using SubscribeQuery = std::array<protocol::QueryValue, 7>;

// The subscription's options from the query (and Last-Event-ID): false with `refusal` set when one is
// wrong.
bool read_options(SubscribeQuery& query, const Request& request, Transport transport,
                  Subscription& subscription, protocol::HttpResponse& refusal) {
  auto& [room, name, format, presence, since, epoch, token] = query;
  const auto named_format = event_format_named(transport, format.present ? format.value : "json");
  if (!named_format) {
    refusal = protocol::error_response(400, "format must be " + event_format_names(transport));
    return false;
  }
  subscription.options.format = *named_format;
  if (presence.present && presence.value != "true" && presence.value != "false") {
    refusal = protocol::error_response(400, "presence must be true or false");
    return false;
  }
  subscription.options.presence_events = presence.value == "true";
  if (since.present) {
    subscription.options.since = parse_id(since.value);
    if (!subscription.options.since) {
      refusal = protocol::error_response(400, "since must be an event id (a whole number)");
      return false;
    }
    subscription.options.epoch = std::move(epoch.value);
  } else if (epoch.present) {
    refusal = protocol::error_response(400, "epoch is given only with since");
    return false;
  }
  const std::string& last_event_id = request.http.header("Last-Event-ID");
  if (transport == Transport::sse && !last_event_id.empty()) {
    auto resumed = protocol::parse_last_event_id(last_event_id);
    if (!resumed) {
      refusal = protocol::error_response(400, "Last-Event-ID must be an event's id as sent, <epoch>:<id>");
      return false;
    }
    subscription.options.since = resumed->id;
    subscription.options.epoch = std::move(resumed->epoch);
  }
  if (name.present && !is_valid_name(name.value)) {
    refusal = protocol::error_response(400, invalid_name_message);
    return false;
  }
  subscription.options.name = name.present ? std::move(name.value) : guest_name();
  return true;
}

// When a token expires, on the session's clock.
std::chrono::steady_clock::time_point session_expiry(const Identity& identity, const config::Config& config) {
  // The session's clock is steady_clock (ticks); exp is wall-clock time. Capped at a century, so that a
  // token that never expires (exp at the clock's end) cannot overflow it. A JWT lives as long as it would
  // still be accepted, exp + leeway (JwtVerifier::verify): closing it at exp would close at once a token
  // the leeway let in, and its client would loop reconnecting.
  auto left = std::min<std::chrono::system_clock::duration>(
      *identity.expires_at - std::chrono::system_clock::now(), std::chrono::hours(24 * 365 * 100));
  if (identity.kind == Identity::Kind::jwt) left += config.auth.jwt.leeway;
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
}

}  // namespace

asio::awaitable<Admission> admit_subscriber(Request& request, Transport transport) {
  Admission admission;
  const auto& config = request.context.config;
  // Before the room lookup and the session, the costly part a storm of new subscribers would repeat.
  const auto wait = request.context.handshake_limiter.try_take(request.address, TokenBucket::Clock::now());
  if (wait > TokenBucket::Clock::duration::zero()) {
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
    admission.refusal =
        error_response(HttpError::upgrading_too_fast, std::to_string(std::max<long long>(1, seconds)));
    co_return admission;
  }
  const std::string& origin = request.http.header("Origin");
  const bool listed = !origin.empty() && origin_listed(config.subscriber, origin);
  if (!origin.empty() && !config.subscriber.allowed_origins.empty() && !listed) {
    admission.refusal = protocol::error_response(403, "Origin \"" + origin + "\" is not allowed");
    co_return admission;
  }
  auto query =
      query_params(request.target.query, {"room", "name", "format", "presence", "since", "epoch", "token"});
  if (!query) {
    admission.refusal = error_response(HttpError::malformed_query);
    co_return admission;
  }
  // Before the options: a client that may not connect learns nothing else about its request.
  auto authorized = authorize(request, (*query)[6].value);
  if (!authorized.identity) {
    admission.refusal = std::move(authorized.refusal);
    co_return admission;
  }
  Identity& identity = *authorized.identity;
  Subscription subscription;
  if (!read_options(*query, request, transport, subscription, admission.refusal)) co_return admission;
  // The token names the user; ?name= counts only where the request chooses its name (open mode, keys).
  if (!identity.chooses_name()) subscription.options.name = identity.name;

  const std::string room_name = room_or_default((*query)[0], config.rooms);
  if (auto refusal = refuse_room(identity, room_name)) {
    admission.refusal = std::move(*refusal);
    co_return admission;
  }
  auto finding = request.context.rooms.find(room_name, room_creation_gate(request));
  auto lookup = co_await std::move(finding);
  if (!lookup.room) {
    admission.refusal = error_response(lookup.refusal);
    co_return admission;
  }
  subscription.options.room = std::move(lookup.room);
  subscription.options.peer = request.peer;
  if (identity.expires_at) subscription.options.expires_at = session_expiry(identity, config);
  subscription.read_only = !identity.may_publish;
  if (identity.kind == Identity::Kind::session) subscription.login_session_sha256 = identity.session_sha256;
  if (listed) subscription.listed_origin = origin;
  admission.subscription = std::move(subscription);
  co_return admission;
}

Placement place_subscriber(Request& request, const Room& room) {
  Worker* home = request.context.workers.owner_of(room.context());
  if (!home || home == &request.worker || room.members() >= small_room_members)
    return Placement{std::move(request.socket), request.worker};
  // Nothing is pending on the socket between requests: release() takes it out of this worker's reactor
  // (epoll_ctl DEL) and assign() registers it with the room's.
  asio::error_code ec;
  const auto endpoint = request.socket.local_endpoint(ec);
  if (ec) return Placement{std::move(request.socket), request.worker};  // gone: the session will see it
  const auto handle = request.socket.release(ec);
  if (ec) return Placement{std::move(request.socket), request.worker};
  asio::ip::tcp::socket moved(home->context());
  moved.assign(endpoint.protocol(), handle, ec);
  if (ec) {
    // The room's reactor could not take it (out of memory): the connection is lost, the session finds
    // its socket closed and ends.
    ::close(handle);
  }
  return Placement{std::move(moved), *home};
}

Outcome hand_over(std::shared_ptr<Session> session, std::string response, const Subscription& subscription,
                  Request& request) {
  // A logout that came between the check and here has missed the watch: the session then says so as soon
  // as it is open (the socket is the session's already).
  if (!subscription.login_session_sha256.empty())
    session->close_on_logout(request.context.auth.sessions(), subscription.login_session_sha256);
  Outcome outcome;
  outcome.session = std::move(session);
  outcome.session_response = std::move(response);
  return outcome;
}

}  // namespace chatd
