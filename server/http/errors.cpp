#include "server/http/errors.hpp"

#include <asio/error.hpp>

#include "server/metrics/metrics.hpp"

namespace chatd {

namespace {

struct ErrorRow {
  HttpError error;
  RoomError room_error;  // the registry refusal this row answers; none for the others
  int status;
  std::string_view body;         // "{}" is replaced by the detail
  std::string_view header = {};  // an extra header, if any
  std::string_view value = {};   // its value; "{}" is replaced by the detail
};

// The room could not carry out the request (memory ran out); it goes on serving. A question may simply be
// asked again. A publish may have been recorded and delivered in part before memory ran out, so it is not
// invited back with Retry-After: a blind retry could repeat the message.
constexpr ErrorRow error_rows[] = {
    {HttpError::not_found, RoomError::none, 404, "not found"},
    {HttpError::method_not_allowed, RoomError::none, 405, "method not allowed", "Allow", "{}"},
    {HttpError::malformed_query, RoomError::none, 400, "malformed percent-encoding in the query"},
    {HttpError::message_too_large, RoomError::none, 413, "message larger than {} bytes"},
    {HttpError::publishing_too_fast, RoomError::none, 429, "publishing too fast: wait and retry",
     "Retry-After", "{}"},
    {HttpError::upgrading_too_fast, RoomError::none, 429, "subscribing too fast: wait and retry",
     "Retry-After", "{}"},
    {HttpError::invalid_room_name, RoomError::invalid_name, 400,
     "invalid room name (1 to 64 characters from A-Z a-z 0-9 . _ -)"},
    {HttpError::no_such_room, RoomError::no_such_room, 404, "no room named \"{}\""},
    {HttpError::room_limit_reached, RoomError::room_limit_reached, 503,
     "room limit reached (rooms.max = {})"},
    {HttpError::creating_rooms_too_fast, RoomError::creating_too_fast, 429,
     "creating rooms too fast: wait and retry", "Retry-After", "{}"},
    {HttpError::history_unreadable, RoomError::history_unreadable, 503,
     "the history of room \"{}\" cannot be read"},
    {HttpError::out_of_memory_loading, RoomError::out_of_memory, 503,
     "the server ran out of memory loading the room"},
    {HttpError::server_stopping, RoomError::stopping, 503, "the server is stopping"},
    {HttpError::room_shutting_down, RoomError::none, 503, "the room is shutting down"},
    {HttpError::not_stored, RoomError::none, 503, "message {} was delivered but could not be stored"},
    {HttpError::out_of_memory_reading, RoomError::none, 503,
     "the server ran out of memory for this request; try again later", "Retry-After", "1"},
    {HttpError::out_of_memory_publishing, RoomError::none, 503,
     "the server ran out of memory handling this message; it was not acknowledged, but may have reached some "
     "subscribers and the history"},
    // RFC 6750 3: a 401 names the scheme it wants; error="invalid_token" is left out because the same row
    // also answers a request with no credentials at all, where RFC 6750 3.1 says to send no error code.
    {HttpError::unauthenticated, RoomError::none, 401, "{}", "WWW-Authenticate", "Bearer realm=\"chatd\""},
    {HttpError::room_forbidden, RoomError::none, 403, "this token may not use room \"{}\""},
    {HttpError::read_only, RoomError::none, 403, "this token may read but not publish"},
    {HttpError::cross_site, RoomError::none, 403,
     "Origin is not allowed to use this session's cookie (subscriber.allowed_origins)"},
    {HttpError::login_failed, RoomError::none, 401, "wrong name or password"},
    {HttpError::logging_in_too_fast, RoomError::none, 429, "too many failed logins: wait and retry",
     "Retry-After", "{}"},
    {HttpError::login_unavailable, RoomError::none, 404,
     "there are no password logins with auth.mode {} (see docs/security.md)"},
    {HttpError::session_store_failed, RoomError::none, 503, "the session could not be recorded; try again",
     "Retry-After", "1"},
    // The publish was never applied: Redis refuses an append whose deadline passed (docs/cluster.md), so a
    // retry cannot repeat it.
    {HttpError::cluster_unavailable, RoomError::none, 503,
     "Redis is unavailable; the message was not published", "Retry-After", "1"},
    // RFC 9110 15.6.5: the upstream (Redis) did not answer in time. Retrying may publish the message twice.
    {HttpError::cluster_outcome_unknown, RoomError::none, 504,
     "Redis did not answer in time; the message may or may not have been published"},
    {HttpError::question_unavailable, RoomError::none, 503,
     "Redis is unavailable: this cannot be answered across nodes now", "Retry-After", "1"},
    {HttpError::admin_key_required, RoomError::none, 403,
     "the admin routes need an API key (auth.api_keys) when auth.mode is not open"},
    {HttpError::admin_key_limited, RoomError::none, 403,
     "API key \"{}\" is limited to some rooms: the admin routes need a key for every room"},
    {HttpError::admin_bad_target, RoomError::none, 400, "{}"},
    {HttpError::room_unavailable, RoomError::engine_unavailable, 503,
     "room \"{}\" cannot be loaded: Redis is unavailable", "Retry-After", "1"},
};

std::string filled(std::string_view text, std::string_view detail) {
  std::string result(text);
  if (const auto at = result.find("{}"); at != std::string::npos) result.replace(at, 2, detail);
  return result;
}

protocol::HttpResponse response_for(const ErrorRow& row, std::string_view detail) {
  auto response = protocol::error_response(row.status, filled(row.body, detail));
  if (!row.header.empty()) response.headers.emplace_back(std::string(row.header), filled(row.value, detail));
  return response;
}

// The refusals counted by kind (server/metrics/metrics.hpp): every one is answered through here, so the
// counters miss none of them.
void count(HttpError error) {
  using metrics::Series;
  switch (error) {
    case HttpError::publishing_too_fast:
      return metrics::add(Series::rate_limited_publish);
    case HttpError::upgrading_too_fast:
      return metrics::add(Series::rate_limited_handshake);
    case HttpError::creating_rooms_too_fast:
      return metrics::add(Series::rate_limited_room_creation);
    case HttpError::logging_in_too_fast:
      return metrics::add(Series::rate_limited_login);
    case HttpError::login_failed:
      return metrics::add(Series::auth_failed_bad_password);
    default:
      return;
  }
}

}  // namespace

protocol::HttpResponse error_response(HttpError error, std::string_view detail) {
  count(error);
  for (const auto& row : error_rows) {
    if (row.error == error) return response_for(row, detail);
  }
  return protocol::error_response(500, "internal error");  // unreachable: every HttpError has a row
}

protocol::HttpResponse error_response(const RoomRefusal& refusal) {
  for (const auto& row : error_rows) {
    if (row.room_error == refusal.error && row.room_error != RoomError::none) {
      count(row.error);
      return response_for(row, refusal.detail);
    }
  }
  return protocol::error_response(500, "internal error");  // unreachable: every RoomError has a row
}

HttpError publish_failure(asio::error_code ec) {
  // The Redis engine's refusals (server/cluster/redis_engine.cpp).
  if (ec == asio::error::try_again) return HttpError::cluster_unavailable;
  if (ec == asio::error::timed_out) return HttpError::cluster_outcome_unknown;
  if (ec == asio::error::no_recovery) return HttpError::not_stored;
  if (ec == asio::error::no_memory) return HttpError::out_of_memory_publishing;
  return HttpError::room_shutting_down;
}

HttpError query_failure(asio::error_code ec) {
  if (ec == asio::error::try_again) return HttpError::question_unavailable;
  if (ec == asio::error::no_memory) return HttpError::out_of_memory_reading;
  return HttpError::room_shutting_down;
}

}  // namespace chatd
