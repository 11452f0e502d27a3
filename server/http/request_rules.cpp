#include "server/http/request_rules.hpp"

#include <charconv>

#include "protocol/utf8.hpp"

namespace chatd {

namespace {

constexpr std::size_t max_name_characters = 64;

}  // namespace

std::optional<std::uint64_t> parse_id(std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [parsed_to, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc{} || parsed_to != end) return std::nullopt;
  return value;
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || !protocol::is_valid_utf8(name)) return false;
  std::size_t characters = 0;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return false;
    if ((c & 0xC0) != 0x80) ++characters;
  }
  return characters <= max_name_characters;
}

}  // namespace chatd
