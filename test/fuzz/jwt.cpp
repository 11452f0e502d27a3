// libFuzzer target: protocol::jwt::parse and the strict base64url codec. Oracles: a parsed token's
// signing input is a view into the input, it is the input up to the last '.', and its header and claims
// hold what parse promises (a non-empty sub); base64url_decode of any input, when it succeeds, re-encodes
// to exactly that input (one spelling per byte string); encoding the input decodes back to it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/base64url.hpp"
#include "protocol/jwt.hpp"
#include "test/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chatd::protocol;
  const std::string input(reinterpret_cast<const char*>(data), size);

  const jwt::Parsed parsed = jwt::parse(input);
  if (parsed.token) {
    FUZZ_CHECK(parsed.error.empty());
    FUZZ_CHECK(size <= jwt::max_token_size);
    const std::string_view signing_input = parsed.token->signing_input;
    FUZZ_CHECK(signing_input.data() == input.data());
    FUZZ_CHECK(signing_input.size() == input.rfind('.'));
    FUZZ_CHECK(!parsed.token->claims.sub.empty());
    FUZZ_CHECK(base64url_encode(parsed.token->signature) ==
               std::string_view(input).substr(input.rfind('.') + 1));
  } else {
    FUZZ_CHECK(parsed.error.starts_with("malformed token: "));
  }

  const auto decoded = base64url_decode(input);
  if (decoded) {
    FUZZ_CHECK(base64url_encode(*decoded) == input);
  } else {
    FUZZ_CHECK(!input.empty());
  }
  const auto round_trip = base64url_decode(base64url_encode(input));
  FUZZ_CHECK(round_trip && *round_trip == input);
  return 0;
}
