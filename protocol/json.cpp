#include "protocol/json.hpp"

#include <charconv>

namespace chatd::protocol {

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t plain_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text, plain_start, i - plain_start);  // copy runs of plain bytes at once
    plain_start = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        out.append("\\u00");
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xf]);
    }
  }
  out.append(text, plain_start, text.size() - plain_start);
  out.push_back('"');
}

namespace {

template <typename Int>
void append_number(std::string& out, Int value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

}  // namespace

void append_event_json(std::string& out, const Event& event) {
  out.append("{\"id\":");
  append_number(out, event.id);
  out.append(",\"room\":");
  append_json_string(out, event.room);
  out.append(",\"type\":");
  append_json_string(out, event.type);
  out.append(",\"name\":");
  append_json_string(out, event.name);
  if (event.type == "message") {
    out.append(",\"text\":");
    append_json_string(out, event.text);
  }
  out.append(",\"ts\":");
  append_number(out, event.ts);
  out.push_back('}');
}

std::string error_json(std::string_view message) {
  std::string out = "{\"error\":";
  append_json_string(out, message);
  out.push_back('}');
  return out;
}

}  // namespace chatd::protocol
