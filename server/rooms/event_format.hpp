// The shapes of event a subscriber may ask for (`format=` on /subscribe), as one table: the name in the
// query and the log, and whether join and leave events can be carried. A new format (SSE's) is one more
// enumerator and one more row; the room encodes each event once per format in use.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace chatd {

enum class EventFormat {
  json,  // one JSON object per event (docs/api.md, events)
  text,  // the message text alone, as a chat client of old would show it; no join or leave
};

struct EventFormatInfo {
  EventFormat format;
  std::string_view name;
  bool carries_presence;  // join and leave events can be delivered in it
};

inline constexpr std::array<EventFormatInfo, 2> event_formats = {{
    {EventFormat::json, "json", true},
    {EventFormat::text, "text", false},
}};

inline const EventFormatInfo& format_info(EventFormat format) {
  for (const auto& info : event_formats) {
    if (info.format == format) return info;
  }
  return event_formats.front();
}

inline std::optional<EventFormat> event_format_named(std::string_view name) {
  for (const auto& info : event_formats) {
    if (info.name == name) return info.format;
  }
  return std::nullopt;
}

// "json or text": for the error that answers an unknown name.
inline std::string event_format_names() {
  std::string names;
  for (std::size_t i = 0; i < event_formats.size(); ++i) {
    if (i > 0) names += i + 1 == event_formats.size() ? " or " : ", ";
    names += event_formats[i].name;
  }
  return names;
}

}  // namespace chatd
