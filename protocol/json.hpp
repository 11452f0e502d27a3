// JSON output: string escaping and the event objects subscribers receive.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chatd::protocol {

// Appends `text` as a quoted JSON string: quotes, backslashes and control characters escaped,
// non-ASCII UTF-8 kept as is.
void append_json_string(std::string& out, std::string_view text);

// One event as delivered to `format=json` subscribers.
struct Event {
  std::uint64_t id = 0;
  std::string_view room;
  std::string_view type;  // "message", "join" or "leave"
  std::string_view name;
  std::string_view text;  // messages only: join and leave carry no text
  std::int64_t ts = 0;    // server time, ms since the Unix epoch
};

// {"id":17,"room":"ops","type":"message","name":"alice","text":"deploy done","ts":1763800000123}
// {"id":18,"room":"ops","type":"leave","name":"alice","ts":1763800000456}
void append_event_json(std::string& out, const Event& event);

// {"error":"..."}
std::string error_json(std::string_view message);

}  // namespace chatd::protocol
