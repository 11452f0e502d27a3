// A question a room answers with a JSON body (presence, history): what the two routes share.
#pragma once

#include <memory>

#include <asio/awaitable.hpp>

#include "protocol/uri.hpp"
#include "server/http/outcome.hpp"
#include "server/http/request.hpp"
#include "server/rooms/room_command.hpp"
#include "server/rooms/room_registry.hpp"

namespace chatd {

// Worker thread only. What the registry asks before it makes a room live for this request: a token from
// the request's address in ServerContext::room_creation_limiter (rooms.create_rate/create_burst). Holds
// references to the request: use it only while the request is being handled.
RoomRegistry::CreationGate room_creation_gate(const Request& request);

// Worker thread only. The connection's answer channel, made on its first question.
const std::shared_ptr<QueryReply>& query_reply(Request& request);

// Worker thread only. Sends `question` (made with query_reply(request)) to the room `room=` names, which
// must exist already (asking makes no room), and answers 200 with the room's JSON body.
asio::awaitable<Outcome> ask_room(Request& request, const protocol::QueryValue& room, RoomCommand question);

}  // namespace chatd
