#include "protocol/uri.hpp"

namespace chatd::protocol {

Target split_target(std::string_view target) {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question + 1)};
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '\0') {
      // A raw NUL decodes to the same NUL an escaped one would: refused alike, so no decoded path or
      // value can be cut short by a C API (issue 10: "/index.html\0.png" served index.html).
      return std::nullopt;
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      const char decoded = static_cast<char>(high * 16 + low);
      if (decoded == '\0') return std::nullopt;
      out.push_back(decoded);
      i += 2;
    }
  }
  return out;
}

QueryValue query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto equals = pair.find('=');
    const std::string_view name = pair.substr(0, equals);
    if (name != key) continue;
    QueryValue result;
    result.present = true;
    if (equals == std::string_view::npos) return result;
    auto decoded = percent_decode(pair.substr(equals + 1), true);
    if (!decoded) {
      result.valid = false;
      return result;
    }
    result.value = std::move(*decoded);
    return result;
  }
  return {};
}

}  // namespace chatd::protocol
