// server/http/errors: every domain error and room reply answered with the status, body and headers
// docs/api.md documents (and the integration and python suites check on the wire).
#include <doctest/doctest.h>

#include <string>

#include <asio/error.hpp>
#include <asio/experimental/channel_error.hpp>

#include "server/http/errors.hpp"

using namespace chatd;

namespace {

std::string header(const protocol::HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "<none>";
}

void check_error(const protocol::HttpResponse& response, int status, const std::string& message) {
  CHECK(response.status == status);
  CHECK(response.content_type == "application/json");
  CHECK(response.body == "{\"error\":\"" + message + "\"}\n");
}

}  // namespace

TEST_CASE("each RoomError: its status and body, with the detail it carries") {
  check_error(error_response(RoomRefusal{RoomError::invalid_name, {}}), 400,
              "invalid room name (1 to 64 characters from A-Z a-z 0-9 . _ -)");
  check_error(error_response(RoomRefusal{RoomError::no_such_room, "ops"}), 404, R"(no room named \"ops\")");
  check_error(error_response(RoomRefusal{RoomError::room_limit_reached, "3"}), 503,
              "room limit reached (rooms.max = 3)");
  check_error(error_response(RoomRefusal{RoomError::history_unreadable, "ops"}), 503,
              R"(the history of room \"ops\" cannot be read)");
  check_error(error_response(RoomRefusal{RoomError::out_of_memory, {}}), 503,
              "the server ran out of memory loading the room");
  check_error(error_response(RoomRefusal{RoomError::stopping, {}}), 503, "the server is stopping");
  const auto too_fast = error_response(RoomRefusal{RoomError::creating_too_fast, "4"});
  check_error(too_fast, 429, "creating rooms too fast: wait and retry");
  CHECK(header(too_fast, "Retry-After") == "4");
  const auto upgrading = error_response(HttpError::upgrading_too_fast, "2");
  check_error(upgrading, 429, "subscribing too fast: wait and retry");
  CHECK(header(upgrading, "Retry-After") == "2");
  for (const auto error : {RoomError::invalid_name, RoomError::no_such_room, RoomError::room_limit_reached,
                           RoomError::history_unreadable, RoomError::out_of_memory, RoomError::stopping}) {
    CHECK(error_response(RoomRefusal{error, "x"}).headers.empty());
  }
}

TEST_CASE("a publish's reply: not stored, out of memory (no Retry-After), shutting down") {
  CHECK(publish_failure(asio::error::no_recovery) == HttpError::not_stored);
  CHECK(publish_failure(asio::error::no_memory) == HttpError::out_of_memory_publishing);
  CHECK(publish_failure(asio::experimental::error::channel_closed) == HttpError::room_shutting_down);
  CHECK(publish_failure(asio::error::operation_aborted) == HttpError::room_shutting_down);

  check_error(error_response(HttpError::not_stored, "42"), 503,
              "message 42 was delivered but could not be stored");
  const auto out_of_memory = error_response(HttpError::out_of_memory_publishing);
  check_error(out_of_memory, 503,
              "the server ran out of memory handling this message; it was not acknowledged, but may have "
              "reached some subscribers and the history");
  CHECK(header(out_of_memory, "Retry-After") == "<none>");
  check_error(error_response(HttpError::room_shutting_down), 503, "the room is shutting down");
}

TEST_CASE("a question's reply: out of memory invites a retry after 1 s; anything else is shutting down") {
  CHECK(query_failure(asio::error::no_memory) == HttpError::out_of_memory_reading);
  CHECK(query_failure(asio::error::no_recovery) == HttpError::room_shutting_down);
  CHECK(query_failure(asio::error::operation_aborted) == HttpError::room_shutting_down);
  const auto out_of_memory = error_response(HttpError::out_of_memory_reading);
  check_error(out_of_memory, 503, "the server ran out of memory for this request; try again later");
  CHECK(out_of_memory.headers.size() == 1);
  CHECK(header(out_of_memory, "Retry-After") == "1");
}

TEST_CASE("the answers several routes share") {
  check_error(error_response(HttpError::not_found), 404, "not found");
  const auto not_allowed = error_response(HttpError::method_not_allowed, "GET, HEAD");
  check_error(not_allowed, 405, "method not allowed");
  CHECK(not_allowed.headers.size() == 1);
  CHECK(header(not_allowed, "Allow") == "GET, HEAD");
  check_error(error_response(HttpError::malformed_query), 400, "malformed percent-encoding in the query");
  check_error(error_response(HttpError::message_too_large, "65536"), 413, "message larger than 65536 bytes");
  const auto too_fast = error_response(HttpError::publishing_too_fast, "2");
  check_error(too_fast, 429, "publishing too fast: wait and retry");
  CHECK(header(too_fast, "Retry-After") == "2");
}
