#include "protocol/event_stream.hpp"

#include <algorithm>
#include <charconv>

#include "protocol/json.hpp"

namespace chatd::protocol {

std::string sse_event(std::string_view id, std::string_view type, std::string_view data) {
  std::string out;
  out.reserve(id.size() + type.size() + data.size() + 32);
  if (!id.empty()) {
    out += "id: ";
    out += id;
    out += '\n';
  }
  out += "event: ";
  out += type;
  out += '\n';
  for (;;) {
    const std::size_t end = data.find_first_of("\r\n");
    out += "data: ";
    out += data.substr(0, end);
    out += '\n';
    if (end == std::string_view::npos) break;
    const std::size_t next = data.substr(end, 2) == "\r\n" ? end + 2 : end + 1;
    data.remove_prefix(next);
  }
  out += '\n';
  return out;
}

std::string sse_comment(std::string_view text) {
  std::string out = ": ";
  out += text;
  out += "\n\n";
  return out;
}

std::string sse_event_id(std::string_view epoch, std::uint64_t id) {
  std::string out(epoch);
  out += ':';
  out += std::to_string(id);
  return out;
}

std::optional<LastEventId> parse_last_event_id(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 20) return std::nullopt;
  LastEventId parsed;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed.id);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  // Epochs are hex digits (history_store.cpp, the cluster's scripts): anything else in front of the colon
  // is not an id we wrote, such as two Last-Event-ID headers joined by ", " into one value.
  const std::string_view epoch = text.substr(0, colon);
  const auto alphanumeric = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  if (!std::all_of(epoch.begin(), epoch.end(), alphanumeric)) return std::nullopt;
  parsed.epoch = std::string(epoch);
  return parsed;
}

std::string sse_close_json(std::uint16_t code, std::string_view reason) {
  std::string out = "{\"type\":\"close\",\"code\":";
  out += std::to_string(code);
  out += ",\"reason\":";
  append_json_string(out, reason);
  out += '}';
  return out;
}

std::string sse_response_head(std::string_view allow_origin) {
  std::string head =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\n"
      "Connection: close\r\n";
  if (!allow_origin.empty()) {
    head.append("Access-Control-Allow-Origin: ").append(allow_origin).append("\r\n");
    if (allow_origin != "*") head.append("Vary: Origin\r\n");
  }
  head.append("\r\n");
  return head;
}

}  // namespace chatd::protocol
