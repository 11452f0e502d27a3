// One event of a room's history: a message, or a user joining or leaving. Immutable once made, and
// shared by the room's in-memory history and the store's writer, so it is never copied.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace chatd {

enum class EventType : std::uint8_t { message = 0, join = 1, leave = 2 };

inline std::string_view event_type_name(EventType type) {
  switch (type) {
    case EventType::join:
      return "join";
    case EventType::leave:
      return "leave";
    case EventType::message:
      break;
  }
  return "message";
}

struct StoredEvent {
  std::uint64_t id = 0;
  std::int64_t ts = 0;  // server time, ms since the Unix epoch
  EventType type = EventType::message;
  std::string name;
  std::string text;  // messages only
};

using SharedEvent = std::shared_ptr<const StoredEvent>;

// An event's `ts`, and what retention by age compares it with: wall-clock ms since the Unix epoch.
inline std::int64_t event_time_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace chatd
