// libFuzzer target: protocol::parse_publish_body. Oracles: an accepted body has non-empty, valid UTF-8
// text (and room/name valid UTF-8); a refusal is 400 or 415 with a reason.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocol/publish_body.hpp"
#include "protocol/utf8.hpp"
#include "test/fuzz/check.hpp"

namespace {}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using chatd::protocol::is_valid_utf8;
  if (size < 1) return 0;
  // Byte 0 picks the Content-Type: the two accepted ones (with and without parameters), or the rest of a
  // first line as given.
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view content_type;
  std::string_view body = rest;
  switch (data[0] % 5) {
    case 0:
      content_type = "text/plain";
      break;
    case 1:
      content_type = "application/json";
      break;
    case 2:
      content_type = "text/plain; charset=utf-8";
      break;
    case 3:
      content_type = "Application/JSON; charset=UTF-8";
      break;
    default: {
      const auto newline = rest.find('\n');
      content_type = rest.substr(0, newline);
      body = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    }
  }
  const auto result = chatd::protocol::parse_publish_body(content_type, body);
  if (result.body) {
    FUZZ_CHECK(!result.body->text.empty());
    FUZZ_CHECK(is_valid_utf8(result.body->text));
    if (result.body->room) FUZZ_CHECK(is_valid_utf8(*result.body->room));
    if (result.body->name) FUZZ_CHECK(is_valid_utf8(*result.body->name));
  } else {
    FUZZ_CHECK(result.status == 400 || result.status == 415);
    FUZZ_CHECK(!result.error.empty());
  }
  return 0;
}
