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

std::string reset_json(std::string_view room, std::string_view epoch, std::uint64_t last) {
  std::string out = "{\"type\":\"reset\",\"room\":";
  append_json_string(out, room);
  out.append(",\"epoch\":");
  append_json_string(out, epoch);
  out.append(",\"last\":");
  append_number(out, last);
  out.push_back('}');
  return out;
}

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
  std::vector<std::string> texts(events.size());
  std::vector<EncodedEvent> encoded(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    append_event_json(texts[i], events[i]);
    encoded[i] = EncodedEvent{events[i].id, texts[i]};
  }
  return history_page_json(room, epoch, encoded, next_before, max_bytes);
}

std::string history_page_json(std::string_view room, std::string_view epoch,
                              std::span<const EncodedEvent> events, std::optional<std::uint64_t> next_before,
                              std::size_t max_bytes) {
  // The envelope's size with next_before at its widest (20 digits), then each event from the newest back
  // until the next would pass max_bytes (at least one is kept).
  std::string out;
  append_room_and_epoch(out, room, epoch);
  std::size_t size = out.size() + std::string_view(",\"events\":[],\"next_before\":}\n").size() + 20;
  std::size_t first = events.size();
  while (first > 0) {
    const std::size_t cost = events[first - 1].json.size() + (first == events.size() ? 0 : 1);  // the comma
    if (first != events.size() && size + cost > max_bytes) break;
    size += cost;
    --first;
  }
  if (first > 0) next_before = events[first].id;
  out.reserve(size);
  out.append(",\"events\":[");
  for (std::size_t i = first; i < events.size(); ++i) {
    if (i != first) out.push_back(',');
    out.append(events[i].json);
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

std::string session_id_text(std::uint64_t id) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text(16, '0');
  for (int i = 15; i >= 0; --i, id >>= 4) text[static_cast<std::size_t>(i)] = digits[id & 15];
  return text;
}

std::optional<std::uint64_t> parse_session_id(std::string_view text) {
  if (text.size() != 16) return std::nullopt;
  std::uint64_t id = 0;
  for (const char c : text) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return std::nullopt;
    id = id << 4 | static_cast<std::uint64_t>(digit);
  }
  if (id == 0) return std::nullopt;
  return id;
}

std::string admin_room_json(std::string_view room, std::string_view epoch, std::uint64_t last_id,
                            std::size_t subscribers, const std::vector<AdminSession>* sessions) {
  std::string out = "{\"room\":";
  append_json_string(out, room);
  out.append(",\"epoch\":");
  append_json_string(out, epoch);
  out.append(",\"last_id\":");
  append_number(out, last_id);
  out.append(",\"subscribers\":");
  append_number(out, subscribers);
  if (sessions) {
    out.append(",\"sessions\":[");
    for (std::size_t i = 0; i < sessions->size(); ++i) {
      const AdminSession& session = (*sessions)[i];
      if (i > 0) out.push_back(',');
      out.append("{\"session\":\"");
      out.append(session_id_text(session.id));
      out.append("\",\"name\":");
      append_json_string(out, session.name);
      out.append(",\"peer\":");
      append_json_string(out, session.peer);
      out.append(",\"transport\":");
      append_json_string(out, session.transport);
      out.append(",\"connected_at\":");
      append_number(out, session.connected_at);
      out.append(",\"queued_bytes\":");
      append_number(out, session.queued_bytes);
      out.push_back('}');
    }
    out.push_back(']');
  }
  out.push_back('}');
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

std::string login_json(std::string_view name, std::string_view token, std::int64_t expires_at) {
  std::string out = "{\"name\":";
  append_json_string(out, name);
  out.append(",\"token\":");
  append_json_string(out, token);
  out.append(",\"expires_at\":");
  out.append(std::to_string(expires_at));
  out.append("}\n");
  return out;
}

std::string identity_json(std::string_view mode, std::string_view name, std::int64_t expires_at) {
  std::string out = "{\"mode\":";
  append_json_string(out, mode);
  if (!name.empty()) {
    out.append(",\"name\":");
    append_json_string(out, name);
  }
  if (expires_at != 0) {
    out.append(",\"expires_at\":");
    out.append(std::to_string(expires_at));
  }
  out.append("}\n");
  return out;
}

std::string refusal_json(std::string_view error, std::string_view mode) {
  std::string out = "{\"error\":";
  append_json_string(out, error);
  out.append(",\"mode\":");
  append_json_string(out, mode);
  out.append("}\n");
  return out;
}

}  // namespace chatd::protocol
