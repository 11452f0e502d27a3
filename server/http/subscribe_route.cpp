// The WebSocket upgrade: checks the handshake, then what every subscriber is checked for (subscription.cpp),
// and hands the socket to a WebSocketSession (serve_http starts it once this connection is gone).
#include "protocol/websocket_handshake.hpp"
#include "server/http/routes.hpp"
#include "server/http/subscription.hpp"
#include "server/metrics/metrics.hpp"
#include "server/transport/websocket_session.hpp"

namespace chatd {

namespace {

// The upgrade, or the HTTP error that refuses it.
asio::awaitable<Outcome> upgrade(Request& request) {
  Outcome outcome;
  auto handshake = protocol::accept_websocket(request.http);
  if (!handshake.accepted) {
    outcome.response = std::move(handshake.response);
    co_return outcome;
  }
  // After the handshake is known good, so only real upgrades spend a handshake token.
  auto admitting = admit_subscriber(request, Transport::websocket);
  auto admission = co_await std::move(admitting);
  if (!admission.subscription) {
    outcome.response = std::move(admission.refusal);
    co_return outcome;
  }
  Subscription& subscription = *admission.subscription;
  WebSocketSession::Options options;
  options.room = std::move(subscription.room);
  options.name = std::move(subscription.name);
  options.format = subscription.format;
  options.presence_events = subscription.presence_events;
  options.since = subscription.since;
  options.epoch = std::move(subscription.epoch);
  options.peer = request.peer;
  options.initial_bytes = std::string(request.leftover);
  options.expires_at = subscription.expires_at;
  options.read_only = subscription.read_only;
  outcome.session_response = protocol::serialize(handshake.response);
  auto session = std::make_shared<WebSocketSession>(std::move(request.socket), request.worker,
                                                    request.context.config, std::move(options));
  if (!subscription.login_session_sha256.empty()) {
    // From now on a logout closes this session. One that came between the check and here has missed it:
    // the session then says so as soon as it is open (the socket is the session's already).
    if (!session->watch_session(request.context.auth.sessions(), subscription.login_session_sha256))
      session->close(disconnect::logged_out, true);
  }
  outcome.session = std::move(session);
  co_return outcome;
}

}  // namespace

asio::awaitable<Outcome> subscribe_route(Request& request) {
  auto upgrading = upgrade(request);
  Outcome outcome = co_await std::move(upgrading);
  metrics::add(outcome.session ? metrics::Series::websocket_sessions_opened
                               : metrics::handshake_rejection_series(outcome.response.status));
  co_return outcome;
}

}  // namespace chatd
