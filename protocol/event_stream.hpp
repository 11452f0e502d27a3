// The Server-Sent Events wire format (HTML Living Standard, "Server-sent events", 9.2): what GET /events
// writes. Like a WebSocket frame, an event's bytes are the same for every reader: build once, share.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chatd::protocol {

// One event: `id: <id>`, `event: <type>` and one `data: ` line per line of `data`, then the blank line that
// dispatches it. `id` "" writes no id line: the reader's last event id stays what it was (9.2.6), so an
// event that is not in the room's numbering (recovered, reset, close) does not move where a reconnect
// resumes. `data` is split at CRLF, LF and CR, the three line ends the reader splits at (9.2.5), so a
// reader sees its lines joined by LF; a CR in a message arrives as a line break.
std::string sse_event(std::string_view id, std::string_view type, std::string_view data);

// A comment line, which every reader ignores: the keepalive that keeps proxies and NATs from timing out
// an idle stream (9.2.7 recommends one about every 15 s).
std::string sse_comment(std::string_view text);

// The id of event `id` of a room in epoch `epoch`, as written in the `id:` field and sent back by a
// reconnecting EventSource in Last-Event-ID: "<epoch>:<id>".
std::string sse_event_id(std::string_view epoch, std::uint64_t id);

struct LastEventId {
  std::string epoch;
  std::uint64_t id = 0;
};
// Last-Event-ID as sse_event_id wrote it: an epoch of letters and digits (it may be empty), a colon, a
// whole number. nullopt for anything else.
std::optional<LastEventId> parse_last_event_id(std::string_view text);

// The data of the `close` event that ends a stream, with a WebSocket close code and reason (docs/api.md):
// {"type":"close","code":4004,"reason":"removed by an operator"}
std::string sse_close_json(std::uint16_t code, std::string_view reason);

// The head of the 200 that opens a stream: text/event-stream, no caching, and no Content-Length, so the
// body is delimited by the close of the connection (RFC 9112 6.3, item 8). `X-Accel-Buffering: no` tells
// nginx not to buffer it (docs/deploy.md). `allow_origin` non-empty adds Access-Control-Allow-Origin with
// it (and Vary: Origin unless it is "*"), so an EventSource on another origin may read the stream.
std::string sse_response_head(std::string_view allow_origin);

}  // namespace chatd::protocol
