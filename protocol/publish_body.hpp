// The body of POST /publish: text/plain is the message text; application/json is
// {"room": "...", "text": "...", "name": "..."} (room and name optional), parsed with simdjson.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace chatd::protocol {

struct PublishBody {
  std::optional<std::string> room;
  std::optional<std::string> name;
  std::string text;
};

struct PublishBodyResult {
  std::optional<PublishBody> body;
  int status = 0;     // when !body: 400 or 415
  std::string error;  // when !body: why, for the {"error": ...} answer
};

// Checks UTF-8 and non-empty text; the size limit is the caller's (it knows the route's 413 rule).
PublishBodyResult parse_publish_body(std::string_view content_type, std::string_view body);

}  // namespace chatd::protocol
