// A question a room answers with a JSON body (presence, history): what the two routes share.
#pragma once

#include <memory>

#include <asio/awaitable.hpp>

#include "protocol/uri.hpp"
#include "server/http/outcome.hpp"
#include "server/http/request.hpp"
#include "server/rooms/room_command.hpp"

namespace chatd {

// Worker thread only. The connection's answer channel, made on its first question.
const std::shared_ptr<QueryReply>& query_reply(Request& request);

// Worker thread only. Sends `question` (made with query_reply(request)) to the room `room=` names, which
// must exist already (asking makes no room), and answers 200 with the room's JSON body.
asio::awaitable<Outcome> ask_room(Request& request, const protocol::QueryValue& room, RoomCommand question);

}  // namespace chatd
