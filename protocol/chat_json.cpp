#include "protocol/chat_json.hpp"

#include <charconv>

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
  std::string out;
  append_room_and_epoch(out, room, epoch);
  out.append(",\"events\":[");
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_event_json(out, events[i]);
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
