#include "protocol/forwarded.hpp"

#include <cctype>

namespace chatd::protocol {

namespace {

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The elements of a comma-separated list, commas inside double quotes left alone (RFC 9110 5.6.1).
std::vector<std::string_view> elements(std::string_view list) {
  std::vector<std::string_view> found;
  bool quoted = false;
  std::size_t begin = 0;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size() && list[i] == '"') quoted = !quoted;
    if (i == list.size() || (list[i] == ',' && !quoted)) {
      found.push_back(trimmed(list.substr(begin, i - begin)));
      begin = i + 1;
    }
  }
  return found;
}

// "192.0.2.60", "192.0.2.60:4711", "[2001:db8::17]", "[2001:db8::17]:4711", or a bare IPv6 "2001:db8::17"
// (X-Forwarded-For writes them so): the address, else "". Whether it is a valid address is the caller's.
std::string address_of(std::string_view node) {
  if (node.empty()) return {};
  if (node.front() == '[') {
    const std::size_t close = node.find(']');
    if (close == std::string_view::npos) return {};
    const std::string_view after = node.substr(close + 1);
    if (!after.empty() && after.front() != ':') return {};
    return std::string(node.substr(1, close - 1));
  }
  const std::size_t colon = node.find(':');
  // One colon: IPv4 with a port. More: a bare IPv6 address (no port can be written without brackets).
  if (colon != std::string_view::npos && node.find(':', colon + 1) == std::string_view::npos)
    return std::string(node.substr(0, colon));
  return std::string(node);
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> forwarded_for(std::string_view forwarded) {
  std::vector<std::string> addresses;
  for (const std::string_view element : elements(forwarded)) {
    // forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] ); an element without for= names
    // no client, and counts as an unknown hop.
    std::string address;
    std::string_view rest = element;
    while (!rest.empty()) {
      const std::size_t semicolon = rest.find(';');
      const std::string_view pair = trimmed(rest.substr(0, semicolon));
      rest = semicolon == std::string_view::npos ? std::string_view{} : rest.substr(semicolon + 1);
      const std::size_t equals = pair.find('=');
      if (equals == std::string_view::npos || !equal_ignoring_case(trimmed(pair.substr(0, equals)), "for"))
        continue;
      std::string_view value = trimmed(pair.substr(equals + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      address = address_of(value);
    }
    addresses.push_back(std::move(address));
  }
  return addresses;
}

std::vector<std::string> x_forwarded_for(std::string_view header) {
  std::vector<std::string> addresses;
  for (const std::string_view element : elements(header)) addresses.push_back(address_of(element));
  return addresses;
}

}  // namespace chatd::protocol
