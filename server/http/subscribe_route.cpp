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
  WebSocketSession::Options options{std::move(subscription.options), std::string(request.leftover),
                                    subscription.read_only};
  auto placed = place_subscriber(request, *options.room);
  auto session = std::make_shared<WebSocketSession>(std::move(placed.socket), placed.worker,
                                                    request.context.config, std::move(options));
  outcome = hand_over(std::move(session), protocol::serialize(handshake.response), subscription, request);
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
