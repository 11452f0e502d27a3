// Every way chatd ends a connection, named once. A close is a close frame with a code and a reason
// (RFC 6455 7.4; the reason is at most 123 bytes, 5.5.1), and the code is what clients act on
// (docs/api.md lists them); an event stream (SSE) carries the same code and reason in its last event,
// `close`. A drop ends the connection without a close frame, because the peer cannot
// be written to or has gone silent; its reason only reaches the log.
// The frame reader's own refusals (1002, 1007, 1009 with the parser's reason) are named in
// protocol/frame_reader.cpp, where they are found.
#pragma once

#include <cstdint>
#include <string_view>

#include "protocol/frame_builder.hpp"

namespace chatd {

struct Disconnect {
  std::uint16_t code = 0;
  std::string_view reason;
};

namespace disconnect {

namespace code = protocol::close_code;

// Closes, with a frame.
inline constexpr Disconnect going_away{code::going_away, "going away"};  // the server is stopping
inline constexpr Disconnect binary_unsupported{code::unsupported_data, "binary messages are not supported"};
inline constexpr Disconnect invalid_close_frame{code::protocol_error, "invalid close frame"};
inline constexpr Disconnect invalid_close_reason{code::invalid_payload, "close reason is not valid UTF-8"};
// The subscriber's queue was full: the room does not wait for one client (docs/api.md, slow clients).
inline constexpr Disconnect too_slow{code::policy_violation, "too slow"};
// Access control (docs/security.md): the token's exp (or the login's expiry) has come; POST /logout ended the
// session it was opened with; a read-only token (publish: false) sent a message. 4000-4999 are for
// applications (RFC 6455 7.4.2): a client reconnects with a fresh token on 4001, and logs in again on 4003.
inline constexpr Disconnect token_expired{4001, "token expired"};
inline constexpr Disconnect logged_out{4003, "logged out"};
// POST /admin/disconnect (docs/api.md, admin listener): an operator removed this session. A client should
// not reconnect on its own after it.
inline constexpr Disconnect removed_by_operator{4004, "removed by an operator"};
inline constexpr Disconnect read_only{code::policy_violation, "this token may not publish"};
// cluster.engine redis: Redis did not take a publish within cluster.unavailable_wait (docs/cluster.md). RFC
// 6455 7.4.1: 1013 is "try again later"; what was refused is never delivered later.
inline constexpr Disconnect cluster_unavailable{1013, "try again later: Redis is unavailable"};
// Memory ran out for this connection's input or its join: it alone ends.
inline constexpr Disconnect out_of_memory{code::internal_error, "server out of memory"};

// Drops, without a frame: the reason is logged as `ended="..."`.
inline constexpr std::string_view write_timeout = "write timeout";
inline constexpr std::string_view write_failed = "write failed";
inline constexpr std::string_view ping_timeout = "ping timeout";
inline constexpr std::string_view no_close_frame = "no close frame from the peer";
inline constexpr std::string_view reader_kept_open = "the reader kept the stream open after its close event";
inline constexpr std::string_view input_out_of_memory = "input failed: out of memory";
inline constexpr std::string_view write_out_of_memory = "write failed: out of memory";

}  // namespace disconnect

}  // namespace chatd
