// libFuzzer target: protocol::parse_login_body. Oracles: an accepted body has a non-empty, valid UTF-8 name
// and password; a refusal is 400 or 415 with a reason.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/login_body.hpp"
#include "protocol/utf8.hpp"
#include "test/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using chatd::protocol::is_valid_utf8;
  if (size < 1) return 0;
  // Byte 0 picks the Content-Type: the two accepted ones, or the rest of a first line as given.
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view content_type;
  std::string_view body = rest;
  switch (data[0] % 3) {
    case 0:
      content_type = "application/json";
      break;
    case 1:
      content_type = "application/x-www-form-urlencoded";
      break;
    default: {
      const auto newline = rest.find('\n');
      content_type = rest.substr(0, newline);
      body = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    }
  }
  const auto result = chatd::protocol::parse_login_body(content_type, body);
  if (result.body) {
    FUZZ_CHECK(!result.body->name.empty() && !result.body->password.empty());
    FUZZ_CHECK(is_valid_utf8(result.body->name) && is_valid_utf8(result.body->password));
  } else {
    FUZZ_CHECK(result.status == 400 || result.status == 415);
    FUZZ_CHECK(!result.error.empty());
  }
  return 0;
}
