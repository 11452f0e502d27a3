#include "protocol/chat_json.hpp"

#include <charconv>
#include <limits>
#include <vector>

namespace chatd::protocol {

namespace {

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

// {"room":R,"epoch":E — the head every room answer but the presence list shares.
void append_room_and_epoch(std::string& out, std::string_view room, std::string_view epoch) {
  out.append("{\"room\":");
  append_json_string(out, room);
  out.append(",\"epoch\":");
  append_json_string(out, epoch);
}

}  // namespace

std::string recovered_json(std::string_view room, std::string_view epoch, bool complete,
                           std::size_t max_message_size) {
  std::string out = "{\"type\":\"recovered\",\"room\":";
  append_json_string(out, room);
  out.append(",\"epoch\":");
  append_json_string(out, epoch);
  out.append(complete ? ",\"complete\":true" : ",\"complete\":false");
  out.append(",\"max_message_size\":");
  append_number(out, max_message_size);
  out.push_back('}');
  return out;
}

std::string history_page_json(std::string_view room, std::string_view epoch, std::span<const Event> events,
                              std::optional<std::uint64_t> next_before) {
  return history_page_json(room, epoch, events, next_before, std::numeric_limits<std::size_t>::max());
}

std::string history_page_json(std::string_view room, std::string_view epoch, std::span<const Event> events,
                              std::optional<std::uint64_t> next_before, std::size_t max_bytes) {
  // The envelope's size with next_before at its widest (20 digits), then each event from the newest back,
  // each encoded once, until the next would pass max_bytes.
  std::string envelope;
  append_room_and_epoch(envelope, room, epoch);
  std::size_t size = envelope.size() + std::string_view(",\"events\":[],\"next_before\":}\n").size() + 20;
  std::vector<std::string> encoded;
  std::size_t first = events.size();
  while (first > 0) {
    std::string event;
    append_event_json(event, events[first - 1]);
    const std::size_t cost = event.size() + (encoded.empty() ? 0 : 1);  // the comma
    if (!encoded.empty() && size + cost > max_bytes) break;
    size += cost;
    encoded.push_back(std::move(event));
    --first;
  }
  if (first > 0) next_before = events[first].id;
  std::string out = std::move(envelope);
  out.reserve(size);
  out.append(",\"events\":[");
  for (auto i = encoded.rbegin(); i != encoded.rend(); ++i) {
    if (i != encoded.rbegin()) out.push_back(',');
    out.append(*i);
  }
  out.append("],\"next_before\":");
  if (next_before) {
    append_number(out, *next_before);
  } else {
    out.append("null");
  }
  out.append("}\n");
  return out;
}

std::string presence_json(std::string_view room, std::span<const PresenceEntry> users) {
  std::string out = "{\"room\":";
  append_json_string(out, room);
  out.append(",\"users\":[");
  for (std::size_t i = 0; i < users.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append("{\"name\":");
    append_json_string(out, users[i].name);
    out.append(",\"sessions\":");
    append_number(out, users[i].sessions);
    out.push_back('}');
  }
  out.append("]}\n");
  return out;
}

std::string publish_ack_json(std::uint64_t id, std::string_view room) {
  std::string out = "{\"id\":";
  append_number(out, id);
  out.append(",\"room\":");
  append_json_string(out, room);
  out.append("}\n");
  return out;
}

}  // namespace chatd::protocol
