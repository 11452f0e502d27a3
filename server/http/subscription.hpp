// What both ways of following a room check before a session is made, the WebSocket upgrade
// (subscribe_route.cpp) and the event stream (events_route.cpp): the handshake rate limit, the Origin,
// the query, who asks and for which room. So the two transports have the same rooms, formats, presence
// option, access rules and limits, and answer a bad request with the same statuses.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "protocol/http_response.hpp"
#include "server/http/outcome.hpp"
#include "server/http/request.hpp"
#include "server/rooms/event_format.hpp"
#include "server/rooms/room.hpp"
#include "server/transport/session.hpp"

namespace chatd {

struct Subscription {
  SubscriberOptions options;  // what the session is opened with: room, name, format, resume, expiry
  // Access control: whether it may publish, and the login session a POST /logout of which closes it
  // (4003); "" for none.
  bool read_only = false;
  std::string login_session_sha256;
  // The Origin, when subscriber.allowed_origins lists it: the event stream lets that page read it (CORS).
  std::string listed_origin;
};

struct Admission {
  std::optional<Subscription> subscription;
  protocol::HttpResponse refusal;  // without a subscription: why not
};

// Worker thread only (the request's). The subscription `request` asks for on `transport`, in the room
// found (or made) for it, or the HTTP error that refuses it. An event stream may resume from
// Last-Event-ID, which wins over ?since= and ?epoch= (a reconnecting EventSource sends it with the URL
// it first opened).
asio::awaitable<Admission> admit_subscriber(Request& request, Transport transport);

// Where a new subscriber is served: its socket, moved to the worker it is to run on.
struct Placement {
  asio::ip::tcp::socket socket;
  Worker& worker;
};

// Worker thread only (the request's). A subscriber of a room with fewer than `small_room_members`
// members is served on the room's worker, its socket moved there; others stay on the worker that
// accepted them. Why: a fan-out reaches a subscriber on another worker through that worker's event
// loop, a wake-up of its thread (an eventfd write, a futex, a context switch) per message and per
// worker. In a room of 1,000 that is shared by 500 deliveries; in a room of 10 it is most of what a
// delivery costs. Measured with 1,000 rooms of 10 on 2 workers (docs/performance.md): 205 µs of CPU
// per message with subscribers spread, 140 µs with one worker. A large room's subscribers stay spread
// so its writes still use every core.
inline constexpr std::size_t small_room_members = 64;
Placement place_subscriber(Request& request, const Room& room);

// Worker thread only. The outcome that hands the connection to `session`, made for `subscription`: it
// writes `response` (the 101, the stream's 200) once it is in the room. From here a logout closes it.
Outcome hand_over(std::shared_ptr<Session> session, std::string response, const Subscription& subscription,
                  Request& request);

}  // namespace chatd
