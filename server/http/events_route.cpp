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
  auto placed = place_subscriber(request, *subscription.options.room);
  auto session = std::make_shared<EventStreamSession>(
      std::move(placed.socket), placed.worker, request.context.config, std::move(subscription.options));
  // A page on another origin reads the stream only if subscriber.allowed_origins lists it (Fetch standard,
  // CORS): with the list empty, an EventSource on the same origin (the built-in page) needs no header.
  outcome = hand_over(std::move(session), protocol::sse_response_head(subscription.listed_origin),
                      subscription, request);
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
