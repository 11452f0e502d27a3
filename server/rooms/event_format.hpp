// The shapes of event a subscriber may ask for, as one table: the transport whose wire it is written for,
// the name in the query (`format=` on /subscribe and /events) and the log, and what it carries. Each row
// is one encoding of an event: the room encodes each event once per row in use, and every subscriber of
// that row shares the bytes. A new shape is one more enumerator and one more row.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chatd {

// How a subscriber's connection carries events: the WebSocket session or the event stream (SSE).
enum class Transport : std::uint8_t { websocket, sse };

enum class EventFormat : std::uint8_t {
  json,      // WebSocket: one JSON object per text frame (docs/api.md, events)
  text,      // WebSocket: the message text alone, as a chat client of old would show it; no join or leave
  sse_json,  // GET /events: the JSON object as an event's data, its type as the event's name
  sse_text,  // GET /events: the message text as the data; no join or leave
};
inline constexpr std::size_t event_format_count = 4;  // the enumerators above, usable as array indexes

struct EventFormatInfo {
  EventFormat format;
  Transport transport;
  std::string_view name;
  // The event as its JSON object, joins and leaves too (with presence=true); otherwise the message text
  // alone, and no join or leave.
  bool json;
  // `recovered` and `reset` (docs/api.md) are delivered in it. Not to a WebSocket text subscriber, which
  // shows every frame as a message; an SSE event is named, so a text reader's onmessage never sees them.
  bool carries_notices;
};

inline constexpr std::array<EventFormatInfo, event_format_count> event_formats = {{
    {EventFormat::json, Transport::websocket, "json", true, true},
    {EventFormat::text, Transport::websocket, "text", false, false},
    {EventFormat::sse_json, Transport::sse, "json", true, true},
    {EventFormat::sse_text, Transport::sse, "text", false, true},
}};

constexpr std::size_t format_index(EventFormat format) {
  return static_cast<std::size_t>(format);
}

constexpr const EventFormatInfo& format_info(EventFormat format) {
  return event_formats[format_index(format)];
}

static_assert(
    [] {
      for (std::size_t i = 0; i < event_formats.size(); ++i) {
        if (format_index(event_formats[i].format) != i) return false;
      }
      return true;
    }(),
    "event_formats must list the formats in enumerator order: the room indexes its arrays by format");

// The format `name` means on `transport`.
inline std::optional<EventFormat> event_format_named(Transport transport, std::string_view name) {
  for (const auto& info : event_formats) {
    if (info.transport == transport && info.name == name) return info.format;
  }
  return std::nullopt;
}

// "json or text": for the error that answers an unknown name on `transport`.
inline std::string event_format_names(Transport transport) {
  std::string names;
  std::size_t listed = 0;
  std::size_t count = 0;
  for (const auto& info : event_formats) count += info.transport == transport;
  for (const auto& info : event_formats) {
    if (info.transport != transport) continue;
    if (listed > 0) names += listed + 1 == count ? " or " : ", ";
    names += info.name;
    ++listed;
  }
  return names;
}

}  // namespace chatd
