// GET /events: a room as Server-Sent Events (docs/api.md). Checks what every subscriber is checked for
// (subscription.cpp), then hands the socket to an EventStreamSession, which writes the 200 head once it
// is in the room (serve_http starts it once this connection is gone).
#include "protocol/event_stream.hpp"
#include "server/http/routes.hpp"
#include "server/http/subscription.hpp"
#include "server/metrics/metrics.hpp"
#include "server/transport/event_stream_session.hpp"

namespace chatd {

namespace {

asio::awaitable<Outcome> open_stream(Request& request) {
  Outcome outcome;
  auto admitting = admit_subscriber(request, Transport::sse);
  auto admission = co_await std::move(admitting);
  if (!admission.subscription) {
    outcome.response = std::move(admission.refusal);
    co_return outcome;
  }
  Subscription& subscription = *admission.subscription;
  EventStreamSession::Options options;
  options.room = std::move(subscription.room);
  options.name = std::move(subscription.name);
  options.format = subscription.format;
  options.presence_events = subscription.presence_events;
  options.since = subscription.since;
  options.epoch = std::move(subscription.epoch);
  options.peer = request.peer;
  options.expires_at = subscription.expires_at;
  // A page on another origin reads the stream only if subscriber.allowed_origins lists it (Fetch standard,
  // CORS): with the list empty, an EventSource on the same origin (the built-in page) needs no header.
  outcome.session_response = protocol::sse_response_head(subscription.listed_origin);
  auto session = std::make_shared<EventStreamSession>(std::move(request.socket), request.worker,
                                                      request.context.config, std::move(options));
  if (!subscription.login_session_sha256.empty()) {
    // As a WebSocket session: a logout between the check and here closes the stream as soon as it opens.
    if (!session->watch_session(request.context.auth.sessions(), subscription.login_session_sha256))
      session->close(disconnect::logged_out, true);
  }
  outcome.session = std::move(session);
  co_return outcome;
}

}  // namespace

asio::awaitable<Outcome> events_route(Request& request) {
  auto opening = open_stream(request);
  Outcome outcome = co_await std::move(opening);
  metrics::add(outcome.session ? metrics::Series::event_streams_opened
                               : metrics::handshake_rejection_series(outcome.response.status));
  co_return outcome;
}

}  // namespace chatd
