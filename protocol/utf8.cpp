#include "protocol/utf8.hpp"

#include <websocketpp/utf8_validator.hpp>

namespace chatd::protocol {

bool is_valid_utf8(std::string_view text) {
  websocketpp::utf8_validator::validator validator;
  return validator.decode(text.begin(), text.end()) && validator.complete();
}

std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that did not fit.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace chatd::protocol
