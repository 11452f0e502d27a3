// The JSON bodies of chatd's own answers, beside the events of json.hpp: what a resuming subscriber is
// told first, a page of history, the presence list, and the acknowledgement of an HTTP publish.
// docs/api.md shows each one; these functions are the only place they are written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/json.hpp"

namespace chatd::protocol {

// The first event a subscriber that came with `since` receives:
// {"type":"recovered","room":"ops","epoch":"3f2a9c1d0b7e4a65","complete":true,"max_message_size":65536}
// The room's history started again (cluster mode: a new epoch, or a hole that could not be filled;
// docs/api.md):
// {"type":"reset","room":R,"epoch":E,"last":N}. The next event is N + 1 in epoch E.
std::string reset_json(std::string_view room, std::string_view epoch, std::uint64_t last);

std::string recovered_json(std::string_view room, std::string_view epoch, bool complete,
                           std::size_t max_message_size);

// A /history page, oldest event first, and the `before` of the next older page (null: no older page):
// {"room":"ops","epoch":"...","events":[{...},...],"next_before":17}\n
std::string history_page_json(std::string_view room, std::string_view epoch, std::span<const Event> events,
                              std::optional<std::uint64_t> next_before);
// The same page bounded in size: the newest of `events` whose body fits in `max_bytes` (always at least
// one), and then next_before is the id of the oldest event kept, so the client asks on from there.
std::string history_page_json(std::string_view room, std::string_view epoch, std::span<const Event> events,
                              std::optional<std::uint64_t> next_before, std::size_t max_bytes);
// An event already encoded: its id and its append_event_json text (as the room keeps it, inside the frame
// it sent live), so a page is built from what was encoded once, never encoding the event again.
struct EncodedEvent {
  std::uint64_t id = 0;
  std::string_view json;
};
// The same bounded page from events already encoded.
std::string history_page_json(std::string_view room, std::string_view epoch,
                              std::span<const EncodedEvent> events, std::optional<std::uint64_t> next_before,
                              std::size_t max_bytes);

struct PresenceEntry {
  std::string_view name;
  std::uint32_t sessions = 0;
};
// /presence, in the order given (the room sorts by name):
// {"room":"ops","users":[{"name":"alice","sessions":2}]}\n
std::string presence_json(std::string_view room, std::span<const PresenceEntry> users);

// One connection in GET /admin/sessions.
struct AdminSession {
  std::uint64_t id = 0;  // written as 16 hex digits
  std::string_view name;
  std::string peer;
  std::string_view transport;
  std::int64_t connected_at = 0;  // ms since the Unix epoch
  std::size_t queued_bytes = 0;
};
// A room for the admin listener, without a trailing newline (GET /admin/rooms lists them):
// {"room":"ops","epoch":"...","last_id":17,"subscribers":2}, and with `sessions`, also
// "sessions":[{"session":"9f..","name":"alice","peer":"127.0.0.1:5000","transport":"websocket",
// "connected_at":1763800000123,"queued_bytes":0}]
std::string admin_room_json(std::string_view room, std::string_view epoch, std::uint64_t last_id,
                            std::size_t subscribers, const std::vector<AdminSession>* sessions);
// A session id as GET /admin/sessions writes it, and back (nullopt: not 16 hex digits, or 0).
std::string session_id_text(std::uint64_t id);
std::optional<std::uint64_t> parse_session_id(std::string_view text);

// 202 to POST /publish: {"id":18,"room":"ops"}\n
std::string publish_ack_json(std::uint64_t id, std::string_view room);

// 200 to POST /login: {"name":"alice","token":"...","expires_at":1763800000123}\n
std::string login_json(std::string_view name, std::string_view token, std::int64_t expires_at);

// 200 to GET /login, who the request's credentials say it is. `mode` is auth.mode; `name` "" and
// `expires_at` 0 are left out (open mode: {"mode":"open"}).
// {"mode":"password","name":"alice","expires_at":1763800000123}\n
std::string identity_json(std::string_view mode, std::string_view name, std::int64_t expires_at);

// 401 to GET /login: the refusal and the server's auth.mode, so a page without credentials knows whether to
// show a login form (password) or ask for a token (jwt).
// {"error":"authentication required: ...","mode":"password"}\n
std::string refusal_json(std::string_view error, std::string_view mode);

}  // namespace chatd::protocol
