// Request targets: path and query splitting, percent-decoding, query parameters.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace chatd::protocol {

struct Target {
  std::string_view path;   // still percent-encoded
  std::string_view query;  // without the '?'
};

Target split_target(std::string_view target);

// Decodes %XX escapes (and '+' as space when `plus_is_space`, as in query strings).
// nullopt for a malformed escape or a NUL byte, raw or encoded.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// The decoded value of the first `key=value` pair in `query`; "" for a bare `key`; nullopt if absent.
// A malformed escape in the value also gives nullopt in `valid` = false.
struct QueryValue {
  bool present = false;
  bool valid = true;
  std::string value;
};
QueryValue query_param(std::string_view query, std::string_view key);

}  // namespace chatd::protocol
