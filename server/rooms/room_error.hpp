// Why a room could not be found or made: domain errors, with no HTTP in them. server/http/errors.cpp maps
// each to a status and a body, once.
#pragma once

#include <string>

namespace chatd {

enum class RoomError {
  none,                // found (or made)
  invalid_name,        // not a room name (config::is_valid_room_name)
  no_such_room,        // detail: the name; not configured, and not made on first use or not stored
  room_limit_reached,  // detail: rooms.max
  creating_too_fast,   // detail: whole seconds (>= 1) until the caller may make a room (rooms.create_rate)
  history_unreadable,  // detail: the name; the store failed reading it
  out_of_memory,       // memory ran out loading the room
  stopping,            // the server is shutting down
  engine_unavailable,  // detail: the name; the engine cannot load it now (cluster: Redis unreachable)
};

// A refusal and the text its message needs (see each enumerator).
struct RoomRefusal {
  RoomError error = RoomError::none;
  std::string detail;
};

}  // namespace chatd
