// libFuzzer target: protocol::split_target, percent_decode and query_param. Oracles: split_target's
// parts are views into the target that rebuild it; a decoded text has no NUL and is never longer than
// its encoding; encoding a decoded text with %XX for every byte decodes back to it; query_param agrees
// with percent_decode on the value it finds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/uri.hpp"
#include "test/fuzz/check.hpp"

namespace {

std::string encode_every_byte(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    out += '%';
    out += hex[byte >> 4];
    out += hex[byte & 0x0f];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chatd::protocol;
  const std::string target(reinterpret_cast<const char*>(data), size);

  const Target parts = split_target(target);
  FUZZ_CHECK(parts.path.data() >= target.data() &&
             parts.path.data() + parts.path.size() <= target.data() + size);
  if (parts.query.data() != nullptr && !parts.query.empty()) {
    FUZZ_CHECK(parts.query.data() >= target.data() &&
               parts.query.data() + parts.query.size() <= target.data() + size);
  }
  FUZZ_CHECK(target.starts_with(parts.path));

  for (const bool plus_is_space : {false, true}) {
    const auto decoded = percent_decode(target, plus_is_space);
    if (!decoded) continue;
    FUZZ_CHECK(decoded->find('\0') == std::string::npos);
    FUZZ_CHECK(decoded->size() <= target.size());
    const auto again = percent_decode(encode_every_byte(*decoded), plus_is_space);
    FUZZ_CHECK(again && *again == *decoded);
  }

  // The key: the input up to its first '=' or '&' (bounded), looked up in the query part.
  const auto key_end = std::min(target.find_first_of("=&"), std::min<std::size_t>(size, 16));
  const std::string_view key = std::string_view(target).substr(0, key_end);
  const auto value = query_param(parts.query, key);
  if (!value.present) FUZZ_CHECK(value.value.empty());
  if (value.present && value.valid) FUZZ_CHECK(value.value.find('\0') == std::string::npos);
  return 0;
}
