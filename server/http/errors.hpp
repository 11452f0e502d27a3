// Every error chatd answers over HTTP for a domain reason, as one table (errors.cpp): the room registry's
// refusals (RoomError), the rooms' replies on their channels, and the answers shared by several routes.
// docs/api.md documents each status and body; test/unit/http/errors_test.cpp holds them to it.
// Validation messages that belong to one route alone (format=, since=, ...) stay in its file.
#pragma once

#include <string_view>

#include <asio/error_code.hpp>

#include "protocol/http_response.hpp"
#include "server/rooms/room_error.hpp"

namespace chatd {

enum class HttpError {
  not_found,
  method_not_allowed,        // detail: the route's methods, the Allow header
  malformed_query,           // a query parameter with a bad %XX escape
  message_too_large,         // detail: limits.max_message_size
  publishing_too_fast,       // detail: seconds to wait, the Retry-After header
  upgrading_too_fast,        // limits.handshake_rate; detail: seconds to wait, the Retry-After header
  invalid_room_name,         // RoomError::invalid_name
  no_such_room,              // RoomError::no_such_room; detail: the name
  room_limit_reached,        // RoomError::room_limit_reached; detail: rooms.max
  creating_rooms_too_fast,   // RoomError::creating_too_fast; detail: seconds to wait, the Retry-After header
  history_unreadable,        // RoomError::history_unreadable; detail: the name
  out_of_memory_loading,     // RoomError::out_of_memory
  server_stopping,           // RoomError::stopping
  room_shutting_down,        // the room's inbox or reply channel is closed
  not_stored,                // detail: the id the message was delivered with
  out_of_memory_reading,     // a question (presence, history): asking again is safe
  out_of_memory_publishing,  // a publish: it may have been delivered in part, so no Retry-After
  // Access control (auth:, docs/security.md).
  unauthenticated,       // detail: why (no credentials, bad signature, expired, ...); WWW-Authenticate
  room_forbidden,        // detail: the room the token may not use
  read_only,             // the token's publish claim is false
  cross_site,            // a cookie-authenticated request from an Origin that is not allowed
  login_failed,          // wrong name or password (which of the two is not said)
  logging_in_too_fast,   // auth.login_rate/burst; detail: seconds to wait, the Retry-After header
  login_unavailable,     // detail: the auth.mode, which has no password logins
  session_store_failed,  // the session could not be saved or deleted in the database
  // cluster.engine redis (docs/cluster.md).
  cluster_unavailable,  // Redis did not take it within cluster.unavailable_wait: never applied; Retry-After
  cluster_outcome_unknown,  // sent to Redis, but no answer came: it may or may not have been applied
  room_unavailable,         // RoomError::engine_unavailable; detail: the name
  question_unavailable,     // a question only Redis can answer (presence across nodes); Retry-After
  // The admin listener (docs/api.md).
  admin_key_required,  // auth.mode is not open, and the request has no API key
  admin_key_limited,   // detail: the key's name; its rooms: list does not cover every room
  admin_bad_target,    // detail: what is wrong with name=, session= or room=
};

// Any thread. `detail` fills the row's "{}" (see each enumerator).
protocol::HttpResponse error_response(HttpError error, std::string_view detail = {});
// Any thread. A refusal from RoomRegistry (not RoomError::none).
protocol::HttpResponse error_response(const RoomRefusal& refusal);

// What the error code a room answers a publish with means (room.cpp: no_recovery, stored failed; no_memory;
// anything else, the room is shutting down).
HttpError publish_failure(asio::error_code ec);
// The same for a question (presence, history).
HttpError query_failure(asio::error_code ec);

}  // namespace chatd
